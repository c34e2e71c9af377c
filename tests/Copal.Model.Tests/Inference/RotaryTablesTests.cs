using Copal.Model.Config;
using Copal.Model.Inference;

namespace Copal.Model.Tests.Inference;

public class RotaryTablesTests
{
    [Fact]
    public void Unscaled_frequencies_are_theta_powers()
    {
        float[] inv = RotaryTables.InverseFrequencies(8, 10000, new RopeScalingConfig(RopeScalingKind.None));
        Assert.Equal([1f, 0.1f, 0.01f, 0.001f], inv.Select(v => MathF.Round(v, 6)).ToArray());
    }

    [Fact]
    public void Linear_scaling_divides_every_frequency()
    {
        float[] plain = RotaryTables.InverseFrequencies(64, 10000, new RopeScalingConfig(RopeScalingKind.None));
        float[] linear = RotaryTables.InverseFrequencies(64, 10000, new RopeScalingConfig(RopeScalingKind.Linear, 4));
        for (int i = 0; i < plain.Length; i++)
        {
            Assert.Equal(plain[i] / 4, linear[i]);
        }
    }

    [Fact]
    public void Llama3_scaling_keeps_high_divides_low_and_ramps_between()
    {
        var s = new RopeScalingConfig(RopeScalingKind.Llama3, Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192);
        float[] plain = RotaryTables.InverseFrequencies(128, 500000, new RopeScalingConfig(RopeScalingKind.None));
        float[] scaled = RotaryTables.InverseFrequencies(128, 500000, s);
        for (int i = 0; i < plain.Length; i++)
        {
            double wavelen = 2 * Math.PI / plain[i];
            if (wavelen < 8192 / 4.0)
            {
                Assert.Equal(plain[i], scaled[i]);
            }
            else if (wavelen > 8192)
            {
                Assert.Equal(plain[i] / 8, scaled[i], 6);
            }
            else
            {
                Assert.InRange(scaled[i], plain[i] / 8 * 0.999f, plain[i] * 1.001f);
            }
        }
    }

    [Fact]
    public void Tables_hold_cos_and_sin_of_position_times_frequency()
    {
        var cos = new float[16 * 4];
        var sin = new float[16 * 4];
        RotaryTables.Build(16, 8, 10000, new RopeScalingConfig(RopeScalingKind.None), cos, sin);
        float[] inv = RotaryTables.InverseFrequencies(8, 10000, new RopeScalingConfig(RopeScalingKind.None));
        Assert.Equal(MathF.Cos(5 * inv[1]), cos[5 * 4 + 1]);
        Assert.Equal(MathF.Sin(15 * inv[3]), sin[15 * 4 + 3]);
    }
}
