namespace Copal.Tensors.Kernels;

/// <summary>Frequency scaling of rotary embeddings, as in a Hugging Face config's <c>rope_scaling</c>.</summary>
/// <param name="Type">"linear" or "llama3" (also accepted: "default" = none).</param>
/// <param name="Factor">Scale factor.</param>
/// <param name="LowFreqFactor">llama3 only.</param>
/// <param name="HighFreqFactor">llama3 only.</param>
/// <param name="OriginalMaxPositionEmbeddings">llama3 only: the context length before extension.</param>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalMaxPositionEmbeddings = 8192);

/// <summary>cos/sin tables [positions, headDim/2] for <see cref="Rope"/>.</summary>
public sealed class RopeTables
{
    private RopeTables(float[] cos, float[] sin, float[] inverseFrequencies)
    {
        Cos = cos;
        Sin = sin;
        InverseFrequencies = inverseFrequencies;
    }

    /// <summary>cos(pos · inv_freq[i]) at [(pos − start) · headDim/2 + i].</summary>
    public float[] Cos { get; }

    /// <summary>sin(pos · inv_freq[i]) at [(pos − start) · headDim/2 + i].</summary>
    public float[] Sin { get; }

    /// <summary>inv_freq [headDim/2] after scaling.</summary>
    public float[] InverseFrequencies { get; }

    /// <summary>
    /// Builds the tables the way Hugging Face does, every step rounded to f32 in the same order:
    /// inv_freq = 1 / theta^(arange(0, d, 2) / d); scaling (linear: inv_freq / factor; llama3:
    /// <c>_compute_llama3_parameters</c>); angle = f32(pos) · inv_freq; cos and sin of the f32 angle.
    /// </summary>
    public static RopeTables Build(int maxPositions, int headDim, double theta, RopeScaling? scaling)
        => Build(0, maxPositions, headDim, theta, scaling);

    /// <summary>
    /// The rows of positions <paramref name="startPosition"/> .. startPosition + count − 1 of the tables
    /// <see cref="Build(int, int, double, RopeScaling?)"/> gives: each row depends on its position alone, so tables
    /// built piece by piece as a context grows hold the very values of one full table.
    /// </summary>
    public static RopeTables Build(int startPosition, int count, int headDim, double theta, RopeScaling? scaling)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(startPosition);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if ((long)startPosition + count > (long)int.MaxValue + 1)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"positions {startPosition}.. exceed the int range");
        }
        if (headDim <= 0 || headDim % 2 != 0)
        {
            throw new ArgumentException(FormattableString.Invariant($"headDim must be even and positive, got {headDim}"), nameof(headDim));
        }
        if (!(theta > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(theta), theta, "rope theta must be positive");
        }
        int half = headDim / 2;
        var inv = new float[half];
        float fTheta = (float)theta;
        for (int i = 0; i < half; i++)
        {
            float exponent = (float)(2 * i) / headDim;
            // torch.pow in f32 is within an ulp of the exact power; rounding the double power gets the exact one.
            float power = (float)Math.Pow(fTheta, exponent);
            inv[i] = 1f / power;
        }
        Scale(inv, scaling);
        var cos = new float[(long)count * half];
        var sin = new float[(long)count * half];
        for (int r = 0; r < count; r++)
        {
            int p = startPosition + r;
            long row = (long)r * half;
            for (int i = 0; i < half; i++)
            {
                float angle = (float)p * inv[i];
                cos[row + i] = (float)Math.Cos(angle);
                sin[row + i] = (float)Math.Sin(angle);
            }
        }
        return new RopeTables(cos, sin, inv);
    }

    private static void Scale(float[] inv, RopeScaling? scaling)
    {
        if (scaling is null || scaling.Type is "default")
        {
            return;
        }
        if (!(scaling.Factor > 0))
        {
            throw new ArgumentException(FormattableString.Invariant($"rope_scaling factor must be positive, got {scaling.Factor}"), nameof(scaling));
        }
        float factor = (float)scaling.Factor;
        switch (scaling.Type)
        {
            case "linear":
                for (int i = 0; i < inv.Length; i++)
                {
                    inv[i] /= factor;
                }
                break;
            case "llama3":
                Llama3(inv, scaling, factor);
                break;
            default:
                throw new NotSupportedException($"rope_scaling type '{scaling.Type}' is not supported; expected 'linear' or 'llama3'");
        }
    }

    /// <summary>
    /// HF <c>_compute_llama3_parameters</c>, each tensor op in f32 with its Python-scalar operand rounded to f32;
    /// <c>scalar / tensor</c> is torch's <c>reciprocal(tensor) · scalar</c>.
    /// </summary>
    private static void Llama3(float[] inv, RopeScaling s, float factor)
    {
        double oldContext = s.OriginalMaxPositionEmbeddings;
        float lowFreqWavelen = (float)(oldContext / s.LowFreqFactor);
        float highFreqWavelen = (float)(oldContext / s.HighFreqFactor);
        float twoPi = (float)(2 * Math.PI);
        float lowFactor = (float)s.LowFreqFactor;
        float span = (float)(s.HighFreqFactor - s.LowFreqFactor);
        float fOld = (float)oldContext;
        for (int i = 0; i < inv.Length; i++)
        {
            float freq = inv[i];
            float wavelen = (1f / freq) * twoPi;
            float llama = wavelen > lowFreqWavelen ? freq / factor : freq;
            float smooth = (((1f / wavelen) * fOld) - lowFactor) / span;
            float smoothed = ((1f - smooth) * llama / factor) + (smooth * llama);
            bool medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            inv[i] = medium ? smoothed : llama;
        }
    }
}
