using Copal.Tensors.Backends;
using Copal.Tensors.Kernels;
using Copal.Testing;

namespace Copal.Tensors.Tests.Kernels;

public class RopeTests
{
    [Fact]
    public void Rope_rotates_rotate_half_pairs_for_every_head_dim_and_every_rotary_part()
    {
        for (int headDim = 2; headDim <= 256; headDim += 2)
        {
            // The whole head, and parts of it as partial_rotary_factor gives them (Phi-4-mini: 96 of 128).
            foreach (int rotaryDim in new[] { headDim, headDim * 3 / 4 / 2 * 2, 2 }.Where(r => r >= 2).Distinct())
            {
                const int heads = 3, position = 5;
                var tables = RopeTables.Build(8, rotaryDim, 10000, null);
                float[] x = Rand.Floats(heads * headDim, headDim + rotaryDim);
                float[] expected = (float[])x.Clone();
                double[] angles = tables.InverseFrequencies.Select(f => (double)(position * f)).ToArray();
                Reference.Rope(expected, heads, headDim, angles, rotaryDim);
                Rope.Apply(x, tables.Cos, tables.Sin, heads, headDim, rotaryDim, position);
                Tolerances.AssertClose(x, expected, what: $"rope headDim={headDim} rotaryDim={rotaryDim}");
                for (int h = 0; h < heads; h++)
                {
                    // The part RoPE does not turn is the input's, bit for bit.
                    Assert.Equal(expected[(h * headDim + rotaryDim)..((h + 1) * headDim)], x[(h * headDim + rotaryDim)..((h + 1) * headDim)]);
                }
            }
        }
    }

    [Fact]
    public void A_rotary_part_that_is_odd_empty_or_wider_than_the_head_is_refused()
    {
        float[] x = new float[16], table = new float[64];
        foreach (int rotaryDim in new[] { 0, 3, 18 })
        {
            var e = Assert.Throws<ArgumentException>(() => Rope.Apply(x, table, table, 2, 8, rotaryDim, 0));
            Assert.Contains(FormattableString.Invariant($"rotaryDim {rotaryDim}"), e.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>An attention shape's width is the whole head only for 0: a negative one reaches the check, not a silent full turn.</summary>
    [Fact]
    public void An_attention_shape_passes_a_negative_rotary_width_on_to_the_check()
    {
        Assert.Equal((8, 6, -2), (new AttentionShape(1, 0, 2, 2, 8, 1f).Rotary, new AttentionShape(1, 0, 2, 2, 8, 1f, RotaryDim: 6).Rotary,
            new AttentionShape(1, 0, 2, 2, 8, 1f, RotaryDim: -2).Rotary));
        float[] x = new float[16], table = new float[64];
        Assert.Throws<ArgumentException>(() => Rope.Apply(x, table, table, 2, 8, new AttentionShape(1, 0, 2, 2, 8, 1f, RotaryDim: -2).Rotary, 0));
    }

    /// <summary>
    /// HF <c>_compute_longrope_parameters</c> and <c>longrope_frequency_update</c>: inv_freq = 1 / (factor_i ·
    /// θ^(2i/d)) with the short factors within the original context and the long ones from it on, cos and sin times
    /// the attention factor, each step in f32.
    /// </summary>
    [Fact]
    public void Longrope_turns_each_pair_by_its_factor_short_then_long_and_scales_by_the_attention_factor()
    {
        const int rotaryDim = 8, original = 16;
        double[] shortFactors = [1.0, 1.05, 1.5, 2.0], longFactors = [1.0, 1.3, 4.0, 9.5];
        const double attention = 1.19;
        var scaling = new RopeScaling("longrope", 32, OriginalMaxPositionEmbeddings: original)
        {
            ShortFactors = shortFactors,
            LongFactors = longFactors,
            AttentionFactor = attention,
        };
        RopeTables t = RopeTables.Build(40, rotaryDim, 10000, scaling);
        RopeTables plain = RopeTables.Build(40, rotaryDim, 10000, null);
        for (int p = 0; p < 40; p++)
        {
            double[] factors = p < original ? shortFactors : longFactors;
            for (int i = 0; i < rotaryDim / 2; i++)
            {
                float power = (float)Math.Pow(10000f, (float)(2 * i) / rotaryDim); // θ^(2i/d) in f32, as the default frequencies take it
                Assert.Equal(1f / power, plain.InverseFrequencies[i]);
                float inv = 1f / ((float)factors[i] * power);
                float angle = (float)p * inv;
                Assert.Equal((float)Math.Cos(angle) * (float)attention, t.Cos[(p * rotaryDim / 2) + i]);
                Assert.Equal((float)Math.Sin(angle) * (float)attention, t.Sin[(p * rotaryDim / 2) + i]);
            }
        }
        // Built piece by piece across the switch, the rows are the same.
        RopeTables later = RopeTables.Build(10, 20, rotaryDim, 10000, scaling);
        Assert.Equal(t.Cos[(10 * rotaryDim / 2)..(30 * rotaryDim / 2)], later.Cos);
        var e = Assert.Throws<ArgumentException>(() => RopeTables.Build(4, rotaryDim, 10000, scaling with { LongFactors = [1.0, 2.0] }));
        Assert.Contains("longrope LongFactors must hold one factor per rotated pair (4), got 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Default_inverse_frequencies_are_the_f32_rounding_of_theta_powers()
    {
        var t = RopeTables.Build(4, 128, 500000, null);
        for (int i = 0; i < 64; i++)
        {
            double exact = 1 / Math.Pow(500000, (2.0 * i) / 128);
            Assert.True(Math.Abs(t.InverseFrequencies[i] - exact) <= 2 * Math.ScaleB(Math.Abs(exact), -23), $"inv_freq[{i}] = {t.InverseFrequencies[i]:R}, exact {exact:R}");
        }
        Assert.Equal(1f, t.Cos[0]);
        Assert.Equal(0f, t.Sin[0]);
        Assert.Equal((float)Math.Cos(3f * t.InverseFrequencies[7]), t.Cos[3 * 64 + 7]);
    }

    [Fact]
    public void Linear_scaling_divides_inverse_frequencies_by_the_factor()
    {
        var plain = RopeTables.Build(2, 64, 10000, null);
        var scaled = RopeTables.Build(2, 64, 10000, new RopeScaling("linear", 4));
        for (int i = 0; i < 32; i++)
        {
            Assert.Equal(plain.InverseFrequencies[i] / 4f, scaled.InverseFrequencies[i]);
        }
    }

    [Fact]
    public void Llama3_scaling_keeps_high_divides_low_and_smooths_medium_frequencies()
    {
        // Llama 3.1: theta 500000, factor 8, low 1, high 4, original context 8192.
        var plain = RopeTables.Build(1, 128, 500000, null);
        var scaled = RopeTables.Build(1, 128, 500000, new RopeScaling("llama3", 8, 1, 4, 8192));
        int high = 0, low = 0, medium = 0;
        for (int i = 0; i < 64; i++)
        {
            double f = plain.InverseFrequencies[i];
            double wavelen = 2 * Math.PI / f;
            double expected;
            if (wavelen < 8192 / 4.0)
            {
                expected = f;
                high++;
            }
            else if (wavelen > 8192 / 1.0)
            {
                expected = f / 8;
                low++;
            }
            else
            {
                double smooth = (8192 / wavelen - 1) / (4 - 1);
                expected = (1 - smooth) * f / 8 + smooth * f;
                medium++;
            }
            Assert.True(Math.Abs(scaled.InverseFrequencies[i] - expected) <= 4 * Math.ScaleB(expected, -23), $"inv_freq[{i}] = {scaled.InverseFrequencies[i]:R}, expected {expected:R}");
        }
        Assert.True(high > 0 && low > 0 && medium > 0, $"bands high {high}, medium {medium}, low {low}");
    }

    /// <summary>
    /// A pair whose wavelength is exactly the low-frequency bound (HF: <c>wavelen &gt; low_freq_wavelen</c> is false
    /// there, so the pair is in the medium band with smooth 0) is divided by the factor once, as on either side of the
    /// bound. Llama 3.1's own pairs never land on the bound, so the test above passed a kernel that divided it twice.
    /// </summary>
    [Fact]
    public void Llama3_scaling_divides_a_pair_on_the_low_frequency_bound_once()
    {
        // One pair of frequency 1: its wavelength is 2π in f32, and the low factor puts the bound 8192 / low on it.
        float twoPi = (float)(2 * Math.PI);
        double lowFactor = 8192 / (double)twoPi;
        var scaled = RopeTables.Build(1, 2, 10000, new RopeScaling("llama3", 8, lowFactor, 2 * lowFactor, 8192));
        Assert.Equal(twoPi, (float)(8192 / lowFactor));
        // The f32 smooth factor is a rounding away from 0 here (about 1e-7), so the bound is relative, not a few ulps.
        double expected = 1.0 / 8;
        Assert.True(Math.Abs(scaled.InverseFrequencies[0] - expected) <= 1e-5 * expected,
            $"inv_freq[0] = {scaled.InverseFrequencies[0]:R}, expected {expected:R}");
    }

    /// <summary>
    /// HF <c>_compute_yarn_parameters</c> on Qwen2.5-7B's shapes (d 128, θ 10⁶, L 32,768, factor 4): pairs that turn
    /// more than beta_fast (32) times within L keep their frequency, those under beta_slow (1) are divided by the
    /// factor, the ramp between runs from pair ⌊i(32)⌋ to ⌈i(1)⌉ with i(r) = d ln(L / 2πr) / (2 ln θ), and cos and sin
    /// carry the attention factor.
    /// </summary>
    [Fact]
    public void Yarn_keeps_fast_pairs_divides_slow_ones_and_ramps_between()
    {
        const int d = 128, original = 32768;
        const double theta = 1e6, factor = 4, attention = 1.1386;
        double PairAt(double turns) => d * Math.Log(original / (2 * Math.PI * turns)) / (2 * Math.Log(theta));
        int low = (int)Math.Floor(PairAt(32)), high = (int)Math.Ceiling(PairAt(1));
        Assert.Equal((23, 40), (low, high));
        var scaling = new RopeScaling("yarn", factor, OriginalMaxPositionEmbeddings: original) { AttentionFactor = attention };
        RopeTables t = RopeTables.Build(3, d, theta, scaling);
        RopeTables plain = RopeTables.Build(3, d, theta, null);
        for (int i = 0; i < d / 2; i++)
        {
            float power = (float)Math.Pow((float)theta, (float)(2 * i) / d);
            float divided = 1f / ((float)factor * power);
            float w = Math.Clamp((float)(i - low) / (high - low), 0f, 1f);
            float expected = i <= low ? plain.InverseFrequencies[i] : i >= high ? divided : (divided * w) + (plain.InverseFrequencies[i] * (1 - w));
            Assert.True(Math.Abs(t.InverseFrequencies[i] - expected) <= Math.ScaleB(expected, -22), FormattableString.Invariant($"pair {i}: {t.InverseFrequencies[i]:R}, expected {expected:R}"));
            Assert.Equal((float)Math.Cos(2f * t.InverseFrequencies[i]) * (float)attention, t.Cos[d + i]);
        }
        // Untruncated (gpt-oss), the ramp runs between the fractional pairs (23.6.., 39.7..): the same ends, another slope.
        RopeTables untruncated = RopeTables.Build(1, d, theta, scaling with { Truncate = false });
        for (int i = 0; i < d / 2; i++)
        {
            Assert.Equal(i is > 23 and < 40, untruncated.InverseFrequencies[i] != t.InverseFrequencies[i]);
        }
        var e = Assert.Throws<ArgumentException>(() => RopeTables.Build(1, d, theta, scaling with { BetaSlow = 0 }));
        Assert.Contains("beta_slow 0", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The ramp's upper end is at most the rotary dim less one (HF's min(high, dim - 1)), which decides the slope where
    /// the slowest pair would turn less than once at a pair past the head: d 8, θ 10, L 512 give the ramp 1..⌈7.64⌉ = 8,
    /// held to 1..7. The expected frequencies are HF <c>_compute_yarn_parameters</c>' own (torch, f32), factor 4.
    /// </summary>
    [Fact]
    public void Yarns_ramp_ends_at_the_rotary_dim_less_one()
    {
        var scaling = new RopeScaling("yarn", 4, OriginalMaxPositionEmbeddings: 512);
        float[] expected = [1.0f, 0.5623413324356079f, 0.2766993045806885f, 0.13337095081806183f];
        float[] got = RopeTables.Build(1, 8, 10, scaling).InverseFrequencies;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(got[i] - expected[i]) <= Math.ScaleB(expected[i], -22), FormattableString.Invariant($"pair {i}: {got[i]:R}, expected {expected[i]:R}"));
        }
    }

    /// <summary>A non-finite angle names what gave the frequency: longrope's factor list entry, not the factor it never reads.</summary>
    [Fact]
    public void A_non_finite_angle_names_the_field_behind_the_frequency()
    {
        var longrope = new RopeScaling("longrope", 32, OriginalMaxPositionEmbeddings: 16)
        {
            ShortFactors = [1e-38, 1, 1, 1],
            LongFactors = [1, 1, 1, 1],
        };
        var e = Assert.Throws<ArgumentException>(() => RopeTables.Build(8, 8, 10000, longrope));
        Assert.Contains("rope_scaling longrope, short_factor[0] 1E-38)", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("factor 32", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => RopeTables.Build(20, 8, 10000, longrope with { ShortFactors = [1, 1, 1, 1], LongFactors = [1, 1e-39, 1, 1] }));
        Assert.Contains("rope_scaling longrope, long_factor[1] 1E-39)", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => RopeTables.Build(8, 8, 10000, new RopeScaling("linear", 1e-38)));
        Assert.Contains("rope_scaling linear, factor 1E-38)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_scaling_type_is_named()
    {
        var e = Assert.Throws<NotSupportedException>(() => RopeTables.Build(1, 8, 10000, new RopeScaling("dynamic", 2)));
        Assert.Contains("'dynamic'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, 7)]
    [InlineData(7, 9)]
    [InlineData(1000, 24)]
    public void A_range_of_positions_holds_the_rows_of_the_full_table(int start, int count)
    {
        var scaling = new RopeScaling("llama3", 8, 1, 4, 64);
        RopeTables full = RopeTables.Build(start + count, 16, 500000, scaling);
        RopeTables part = RopeTables.Build(start, count, 16, 500000, scaling);
        Assert.Equal(full.Cos.AsSpan(start * 8).ToArray(), part.Cos);
        Assert.Equal(full.Sin.AsSpan(start * 8).ToArray(), part.Sin);
    }
}
