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
}

/// <summary>HF <c>rope_scaling</c> as Copal understands it.</summary>
/// <param name="Kind">The scaling (HF <c>rope_type</c>, or the older <c>type</c>).</param>
/// <param name="Factor">How much the context is stretched: the scaled frequencies are divided by it (HF <c>factor</c>; default 1).</param>
/// <param name="LowFreqFactor">Llama 3 only: wavelengths longer than original context / LowFreqFactor are fully scaled (default 1).</param>
/// <param name="HighFreqFactor">Llama 3 only: wavelengths shorter than original context / HighFreqFactor are kept (default 4).</param>
/// <param name="OriginalMaxPositionEmbeddings">Llama 3 only: the context the model was trained with before scaling (default 8192).</param>
public sealed record RopeScalingConfig(
    RopeScalingKind Kind,
    double Factor = 1.0,
    double LowFreqFactor = 1.0,
    double HighFreqFactor = 4.0,
    int OriginalMaxPositionEmbeddings = 8192);
