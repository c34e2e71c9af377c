using Copal.Model.Config;
using Copal.Tensors.Backends;

namespace Copal.Model.Weights;

/// <summary>
/// Whether a device's attention kernel takes the model's heads, asked before the first weight is uploaded. Without
/// it a model of wider heads loaded in full and failed at its first forward pass; <c>copal serve</c> then reported
/// healthy and answered every request with a 400 as if the request were at fault.
/// </summary>
internal static class DeviceAttentionFit
{
    /// <summary>
    /// Throws <see cref="ModelConfigException"/> naming <paramref name="configPath"/> when the model's head dimension
    /// exceeds <see cref="BackendInfo.MaxAttentionHeadDim"/> (the GPU kernels hold a head in shared memory; the CPU
    /// takes any).
    /// </summary>
    public static void Require(IBackend backend, LlamaConfig config, string configPath)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        if (backend.Info.MaxAttentionHeadDim is int most && config.HeadDim > most)
        {
            throw new ModelConfigException(configPath, FormattableString.Invariant(
                $"head dimension {config.HeadDim} (head_dim, or hidden_size ÷ num_attention_heads) is more than the {most} the attention kernel of {backend.Info.Kind} device '{backend.Info.DeviceName}' takes; --device cpu runs it"));
        }
    }
}
