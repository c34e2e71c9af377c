namespace Copal.Model.Config;

/// <summary>The kinds of RoPE frequency scaling Copal implements (HF <c>rope_scaling.rope_type</c>).</summary>
public enum RopeScalingKind
{
    /// <summary>No scaling: the frequencies of <see cref="LlamaConfig.RopeTheta"/> as they are.</summary>
    None,
    /// <summary>Position interpolation: every frequency divided by <c>factor</c>.</summary>
    Linear,
    /// <summary>Llama 3.1: low frequencies divided by <c>factor</c>, high ones kept, a smooth ramp between.</summary>
    Llama3,
    /// <summary>
    /// Phi-3.5 and Phi-4-mini (HF <c>longrope</c>, once <c>su</c>): each frequency divided by its own factor, the short
    /// list's within the original context and the long list's beyond it, and cos and sin scaled by an attention factor.
    /// </summary>
    LongRope,
    /// <summary>
    /// YaRN (HF <c>yarn</c>; Qwen2.5's long context, DeepSeek-V3): high frequencies kept, low ones divided by
    /// <c>factor</c>, a linear ramp between over the pairs that turn between <c>beta_fast</c> and <c>beta_slow</c> times
    /// within the original context, and cos and sin scaled by an attention factor. (On a Phi-3 "yarn" means longrope.)
    /// </summary>
    Yarn,
}

/// <summary>HF <c>rope_scaling</c> as Copal understands it.</summary>
/// <param name="Kind">The scaling (HF <c>rope_type</c>, or the older <c>type</c>).</param>
/// <param name="Factor">How much the context is stretched: the scaled frequencies are divided by it (HF <c>factor</c>; default 1).</param>
/// <param name="LowFreqFactor">Llama 3 only: wavelengths longer than original context / LowFreqFactor are fully scaled (default 1).</param>
/// <param name="HighFreqFactor">Llama 3 only: wavelengths shorter than original context / HighFreqFactor are kept (default 4).</param>
/// <param name="OriginalMaxPositionEmbeddings">
/// Llama 3, longrope and YaRN: the context the model was trained with before scaling (Llama 3's default 8192).
/// </param>
public sealed record RopeScalingConfig(
    RopeScalingKind Kind,
    double Factor = 1.0,
    double LowFreqFactor = 1.0,
    double HighFreqFactor = 4.0,
    int OriginalMaxPositionEmbeddings = 8192)
{
    /// <summary>longrope: HF <c>short_factor</c>, one divisor per rotated pair, for positions within the original context.</summary>
    public IReadOnlyList<double> ShortFactors { get; init; } = [];
    /// <summary>longrope: HF <c>long_factor</c>, for positions from the original context on.</summary>
    public IReadOnlyList<double> LongFactors { get; init; } = [];
    /// <summary>
    /// longrope and YaRN: the multiplier of cos and sin, HF <c>attention_factor</c>. When the config gives none,
    /// longrope's is √(1 + ln(factor) / ln(original context)) with factor = max_position_embeddings / original context
    /// (1 when that is ≤ 1), YaRN's <see cref="YarnAttentionFactor"/>.
    /// </summary>
    public double AttentionFactor { get; init; } = 1.0;
    /// <summary>YaRN: HF <c>beta_fast</c>, the turns within the original context above which a pair keeps its frequency (default 32).</summary>
    public double BetaFast { get; init; } = 32;
    /// <summary>YaRN: HF <c>beta_slow</c>, the turns below which a pair's frequency is divided by the factor (default 1).</summary>
    public double BetaSlow { get; init; } = 1;
    /// <summary>YaRN: HF <c>truncate</c>, whether the ramp's ends are rounded outward to whole pairs (default true; gpt-oss sets false).</summary>
    public bool Truncate { get; init; } = true;

    /// <summary>
    /// longrope's attention factor when the config gives none (HF <c>_compute_longrope_parameters</c>):
    /// √(1 + ln(factor) / ln(original context)), or 1 when the factor is ≤ 1.
    /// </summary>
    public static double LongRopeAttentionFactor(double factor, int originalMaxPositionEmbeddings) =>
        factor <= 1.0 ? 1.0 : Math.Sqrt(1 + (Math.Log(factor) / Math.Log(originalMaxPositionEmbeddings)));

    /// <summary>
    /// YaRN's attention factor when the config gives none (HF <c>_compute_yarn_parameters</c>, transformers 5.x):
    /// m(factor, mscale) / m(factor, mscale_all_dim) where the config gives both (DeepSeek-V3), else m(factor, 1), with
    /// m(s, k) = 0.1 · k · ln(s) + 1, or 1 when s ≤ 1. A zero or absent mscale counts as not given, as Python's
    /// truthiness has it there.
    /// </summary>
    public static double YarnAttentionFactor(double factor, double? mscale = null, double? mscaleAllDim = null)
    {
        static double M(double scale, double k) => scale <= 1 ? 1.0 : (0.1 * k * Math.Log(scale)) + 1.0;
        return mscale is double m && m != 0 && mscaleAllDim is double all && all != 0 ? M(factor, m) / M(factor, all) : M(factor, 1);
    }
}
