namespace Copal.Model.Config;

/// <summary>The kinds of RoPE frequency scaling Copal implements (HF <c>rope_scaling.rope_type</c>).</summary>
public enum RopeScalingKind
{
    None,
    /// <summary>Position interpolation: every frequency divided by <c>factor</c>.</summary>
    Linear,
    /// <summary>Llama 3.1: low frequencies divided by <c>factor</c>, high ones kept, a smooth ramp between.</summary>
    Llama3,
}

/// <summary>HF <c>rope_scaling</c> as Copal understands it.</summary>
public sealed record RopeScalingConfig(
    RopeScalingKind Kind,
    double Factor = 1.0,
    double LowFreqFactor = 1.0,
    double HighFreqFactor = 4.0,
    int OriginalMaxPositionEmbeddings = 8192);
