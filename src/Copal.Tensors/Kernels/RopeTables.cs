namespace Copal.Tensors.Kernels;

/// <summary>Frequency scaling of rotary embeddings, as in a Hugging Face config's <c>rope_scaling</c>.</summary>
/// <param name="Type">"linear", "llama3", "longrope" or "yarn" (also accepted: "default" = none).</param>
/// <param name="Factor">Scale factor (longrope: not read; its frequencies come from the factor lists).</param>
/// <param name="LowFreqFactor">llama3 only.</param>
/// <param name="HighFreqFactor">llama3 only.</param>
/// <param name="OriginalMaxPositionEmbeddings">llama3, longrope and yarn: the context length before extension.</param>
internal sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4, int OriginalMaxPositionEmbeddings = 8192)
{
    /// <summary>longrope: each frequency's divisor at positions below <see cref="OriginalMaxPositionEmbeddings"/> (one per pair).</summary>
    public IReadOnlyList<double>? ShortFactors { get; init; }
    /// <summary>longrope: each frequency's divisor from <see cref="OriginalMaxPositionEmbeddings"/> on (one per pair).</summary>
    public IReadOnlyList<double>? LongFactors { get; init; }
    /// <summary>longrope and yarn: the multiplier of every cos and sin (HF <c>attention_factor</c>, which scales the attention logits).</summary>
    public double AttentionFactor { get; init; } = 1;
    /// <summary>yarn: HF <c>beta_fast</c>, the turns within the original context from which a pair keeps its frequency.</summary>
    public double BetaFast { get; init; } = 32;
    /// <summary>yarn: HF <c>beta_slow</c>, the turns within the original context below which a pair's frequency is divided by the factor.</summary>
    public double BetaSlow { get; init; } = 1;
    /// <summary>yarn: HF <c>truncate</c>, whether the ramp's ends are rounded outward to whole pairs.</summary>
    public bool Truncate { get; init; } = true;
}

/// <summary>cos/sin tables [positions, rotaryDim/2] for <see cref="Rope"/>.</summary>
internal sealed class RopeTables
{
    private RopeTables(float[] cos, float[] sin, float[] inverseFrequencies)
    {
        Cos = cos;
        Sin = sin;
        InverseFrequencies = inverseFrequencies;
    }

    /// <summary>cos(pos · inv_freq[i]) at [(pos − start) · rotaryDim/2 + i] (longrope, yarn: times the attention factor).</summary>
    public float[] Cos { get; }

    /// <summary>sin(pos · inv_freq[i]) at [(pos − start) · rotaryDim/2 + i] (longrope, yarn: times the attention factor).</summary>
    public float[] Sin { get; }

    /// <summary>inv_freq [rotaryDim/2] after scaling (longrope: those of the first position).</summary>
    public float[] InverseFrequencies { get; }

    /// <summary>
    /// Builds the tables the way Hugging Face does, every step rounded to f32 in the same order:
    /// inv_freq = 1 / theta^(arange(0, d, 2) / d) over the width d RoPE turns (<paramref name="rotaryDim"/>: the head
    /// width, or the part of it a partial_rotary_factor gives); scaling (linear: inv_freq / factor; llama3:
    /// <c>_compute_llama3_parameters</c>; longrope: 1 / (factor_i · theta^(2i/d)), below; yarn:
    /// <c>_compute_yarn_parameters</c>, see <see cref="Yarn"/>), angle = f32(pos) · inv_freq; cos and sin of the f32
    /// angle (longrope, yarn: each times the attention factor).
    /// </summary>
    public static RopeTables Build(int maxPositions, int rotaryDim, double theta, RopeScaling? scaling)
        => Build(0, maxPositions, rotaryDim, theta, scaling);

    /// <summary>
    /// Throws <see cref="ArgumentException"/> when some position below <paramref name="maxPositions"/> would get a
    /// non-finite angle, without building the table: an angle grows with the position, so the last position of each
    /// set of frequencies (longrope's short ones end at its original context) holds the largest.
    /// </summary>
    public static void RequireFinite(int maxPositions, int rotaryDim, double theta, RopeScaling? scaling)
    {
        if (maxPositions <= 0)
        {
            return;
        }
        Build(maxPositions - 1, 1, rotaryDim, theta, scaling);
        if (scaling?.Type == "longrope" && scaling.OriginalMaxPositionEmbeddings is int original && original > 0 && original < maxPositions)
        {
            Build(original - 1, 1, rotaryDim, theta, scaling);
        }
    }

    /// <summary>
    /// The rows of positions <paramref name="startPosition"/> .. startPosition + count − 1 of the tables
    /// <see cref="Build(int, int, double, RopeScaling?)"/> gives: each row depends on its position alone, so tables
    /// built piece by piece as a context grows hold the very values of one full table.
    /// <para>
    /// longrope (Phi-3.5, Phi-4-mini): positions below the original context turn with the short factors, later ones
    /// with the long factors, and every cos and sin is multiplied by the attention factor, as transformers computes
    /// them while it generates token by token (it picks the factors per forward pass by the pass's last position). A
    /// single pass over more than the original context uses the long factors throughout in transformers, so windows
    /// longer than that differ from its numbers there.
    /// </para>
    /// </summary>
    public static RopeTables Build(int startPosition, int count, int rotaryDim, double theta, RopeScaling? scaling)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(startPosition);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if ((long)startPosition + count > (long)int.MaxValue + 1)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"positions {startPosition}.. exceed the int range");
        }
        if (rotaryDim <= 0 || rotaryDim % 2 != 0)
        {
            throw new ArgumentException(FormattableString.Invariant($"rotaryDim must be even and positive, got {rotaryDim}"), nameof(rotaryDim));
        }
        if (!(theta > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(theta), theta, "rope theta must be positive");
        }
        int half = rotaryDim / 2;
        var powers = new float[half];
        float fTheta = (float)theta;
        for (int i = 0; i < half; i++)
        {
            float exponent = (float)(2 * i) / rotaryDim;
            // torch.pow in f32 is within an ulp of the exact power; rounding the double power gets the exact one.
            powers[i] = (float)Math.Pow(fTheta, exponent);
        }
        float[] inv, later;
        float attention = 1f;
        int switchAt = int.MaxValue;
        if (scaling?.Type == "longrope")
        {
            inv = LongRope(powers, scaling.ShortFactors, nameof(RopeScaling.ShortFactors));
            later = LongRope(powers, scaling.LongFactors, nameof(RopeScaling.LongFactors));
            attention = (float)scaling.AttentionFactor;
            switchAt = scaling.OriginalMaxPositionEmbeddings;
        }
        else if (scaling?.Type == "yarn")
        {
            inv = Yarn(powers, rotaryDim, theta, scaling);
            later = inv;
            attention = (float)scaling.AttentionFactor;
        }
        else
        {
            inv = [.. powers.Select(power => 1f / power)];
            Scale(inv, scaling);
            later = inv;
        }
        var cos = new float[(long)count * half];
        var sin = new float[(long)count * half];
        for (int r = 0; r < count; r++)
        {
            int p = startPosition + r;
            float[] frequencies = p < switchAt ? inv : later;
            long row = (long)r * half;
            for (int i = 0; i < half; i++)
            {
                float angle = (float)p * frequencies[i];
                if (!float.IsFinite(angle))
                {
                    // A scaling that f32 cannot follow (a linear factor of 1e-38): refused here, naming the fields,
                    // rather than as non-finite logits several steps later.
                    throw new ArgumentException(FormattableString.Invariant(
                        $"RoPE angle of position {p}, pair {i} is {angle} in f32 (frequency {frequencies[i]} from rope_theta {theta}{Source(scaling, i, p < switchAt)})"));
                }
                // HF multiplies by the attention factor after the cos and sin, each rounded to f32; 1 changes nothing.
                cos[row + i] = (float)Math.Cos(angle) * attention;
                sin[row + i] = (float)Math.Sin(angle) * attention;
            }
        }
        return new RopeTables(cos, sin, inv);
    }

    /// <summary>
    /// What besides rope_theta gave pair <paramref name="pair"/> its frequency, for the non-finite-angle message:
    /// longrope's frequencies come from its factor lists (short within the original context), not from factor.
    /// </summary>
    private static string Source(RopeScaling? scaling, int pair, bool first) => scaling switch
    {
        null or { Type: "default" } => "",
        { Type: "longrope" } => FormattableString.Invariant(
            $" and rope_scaling longrope, {(first ? "short_factor" : "long_factor")}[{pair}] {(first ? scaling.ShortFactors : scaling.LongFactors)![pair]}"),
        _ => FormattableString.Invariant($" and rope_scaling {scaling.Type}, factor {scaling.Factor}"),
    };

    /// <summary>HF <c>_compute_longrope_parameters</c>: inv_freq = 1 / (factor_i · theta^(2i/d)), each step in f32.</summary>
    private static float[] LongRope(float[] powers, IReadOnlyList<double>? factors, string name)
    {
        if (factors is null || factors.Count != powers.Length)
        {
            throw new ArgumentException(FormattableString.Invariant(
                $"longrope {name} must hold one factor per rotated pair ({powers.Length}), got {factors?.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}"), nameof(factors));
        }
        var inv = new float[powers.Length];
        for (int i = 0; i < inv.Length; i++)
        {
            inv[i] = 1f / ((float)factors[i] * powers[i]);
        }
        return inv;
    }

    /// <summary>
    /// HF <c>_compute_yarn_parameters</c> of transformers 5.x (the same steps since 4.45, with the original context and
    /// <c>truncate</c> since 4.55): each pair i blends the interpolated frequency 1 / (factor · θ^(2i/d)) and the
    /// extrapolated (unscaled) 1 / θ^(2i/d) by a ramp over the pair index. The ramp's ends are the pairs that turn
    /// beta_fast and beta_slow times within the original context L, d · ln(L / (2π · β)) / (2 ln θ) in double as
    /// Python's math computes it, rounded outward (floor, ceil) when truncate, clamped to [0, d − 1] (d − 1, not
    /// d/2 − 1, as HF has it), and 0.001 apart when equal; ramp_i = clamp((i − low) / (high − low), 0, 1) and
    /// inv_i = interpolated · ramp_i + extrapolated · (1 − ramp_i), every tensor step in f32 with its Python-scalar
    /// operand rounded to f32, in HF's order. The attention factor multiplies cos and sin in <see cref="Build(int, int, int, double, RopeScaling?)"/>.
    /// </summary>
    private static float[] Yarn(float[] powers, int rotaryDim, double theta, RopeScaling s)
    {
        if (!(s.Factor > 0) || !float.IsFinite((float)s.Factor) || s.OriginalMaxPositionEmbeddings <= 0 || !(s.BetaFast > 0) || !(s.BetaSlow > 0))
        {
            throw new ArgumentException(FormattableString.Invariant(
                $"rope_scaling yarn needs a positive factor, original context and betas, got factor {s.Factor}, original {s.OriginalMaxPositionEmbeddings}, beta_fast {s.BetaFast}, beta_slow {s.BetaSlow}"), nameof(s));
        }
        double CorrectionDim(double rotations) =>
            rotaryDim * Math.Log(s.OriginalMaxPositionEmbeddings / (rotations * 2 * Math.PI)) / (2 * Math.Log(theta));
        double low = CorrectionDim(s.BetaFast), high = CorrectionDim(s.BetaSlow);
        if (!double.IsFinite(low) || !double.IsFinite(high))
        {
            throw new ArgumentException(FormattableString.Invariant($"rope_scaling yarn's ramp has no finite ends with rope_theta {theta}: {low}, {high}"), nameof(theta));
        }
        if (s.Truncate)
        {
            low = Math.Floor(low);
            high = Math.Ceiling(high);
        }
        low = Math.Max(low, 0);
        high = Math.Min(high, rotaryDim - 1);
        if (low == high)
        {
            high += 0.001; // HF's guard against dividing by zero
        }
        float fLow = (float)low, span = (float)(high - low), factor = (float)s.Factor;
        var inv = new float[powers.Length];
        for (int i = 0; i < inv.Length; i++)
        {
            float ramp = Math.Clamp(((float)i - fLow) / span, 0f, 1f);
            float extrapolationWeight = 1f - ramp;
            float interpolated = 1f / (factor * powers[i]);
            float extrapolated = 1f / powers[i];
            inv[i] = (interpolated * (1f - extrapolationWeight)) + (extrapolated * extrapolationWeight);
        }
        return inv;
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
                throw new NotSupportedException($"rope_scaling type '{scaling.Type}' is not supported; expected 'linear', 'llama3', 'longrope' or 'yarn'");
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
