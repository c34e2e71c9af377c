using Copal.Model.Config;
using Copal.Tensors.Backends;

namespace Copal.Model.Inference;

/// <summary>
/// Every activation buffer and the KV cache, allocated once for up to <see cref="MaxRows"/> tokens per forward call
/// and <see cref="MaxPositions"/> positions in total.
/// </summary>
public sealed class RunState : IDisposable
{
    private readonly List<DeviceBuffer> _owned = [];

    public RunState(IBackend backend, LlamaConfig config, int maxRows, int maxPositions, bool allRowLogits)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPositions, 1);
        MaxRows = maxRows;
        MaxPositions = maxPositions;
        LogitRows = allRowLogits ? maxRows : 1;
        try
        {
            Hidden = Own(backend.Allocate((long)maxRows * config.HiddenSize));
            Normed = Own(backend.Allocate((long)maxRows * config.HiddenSize));
            Q = Own(backend.Allocate((long)maxRows * config.QDim));
            K = Own(backend.Allocate((long)maxRows * config.KvDim));
            V = Own(backend.Allocate((long)maxRows * config.KvDim));
            AttentionOut = Own(backend.Allocate((long)maxRows * config.QDim));
            Projected = Own(backend.Allocate((long)maxRows * config.HiddenSize));
            Gate = Own(backend.Allocate((long)maxRows * config.IntermediateSize));
            Up = Own(backend.Allocate((long)maxRows * config.IntermediateSize));
            Logits = Own(backend.Allocate((long)LogitRows * config.VocabSize));
            KCache = new DeviceBuffer[config.NumLayers];
            VCache = new DeviceBuffer[config.NumLayers];
            for (int l = 0; l < config.NumLayers; l++)
            {
                KCache[l] = Own(backend.Allocate((long)maxPositions * config.KvDim));
                VCache[l] = Own(backend.Allocate((long)maxPositions * config.KvDim));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public int MaxRows { get; }
    public int MaxPositions { get; }
    /// <summary>Rows of <see cref="Logits"/>: MaxRows when every position's logits are wanted, else 1.</summary>
    public int LogitRows { get; }

    /// <summary>The residual stream. // [rows, hidden]</summary>
    public DeviceBuffer Hidden { get; } = null!;
    /// <summary>RMSNorm output, the input of q/k/v and of gate/up. // [rows, hidden]</summary>
    public DeviceBuffer Normed { get; } = null!;
    public DeviceBuffer Q { get; } = null!;            // [rows, heads·headDim]
    public DeviceBuffer K { get; } = null!;            // [rows, kvHeads·headDim]
    public DeviceBuffer V { get; } = null!;            // [rows, kvHeads·headDim]
    public DeviceBuffer AttentionOut { get; } = null!; // [rows, heads·headDim]
    /// <summary>o_proj and down_proj outputs before the residual add. // [rows, hidden]</summary>
    public DeviceBuffer Projected { get; } = null!;
    public DeviceBuffer Gate { get; } = null!;         // [rows, intermediate]
    public DeviceBuffer Up { get; } = null!;           // [rows, intermediate]
    public DeviceBuffer Logits { get; } = null!;       // [LogitRows, vocab]
    /// <summary>Per layer. // [maxPositions, kvHeads·headDim]</summary>
    public DeviceBuffer[] KCache { get; } = null!;
    public DeviceBuffer[] VCache { get; } = null!;

    private DeviceBuffer Own(DeviceBuffer b)
    {
        _owned.Add(b);
        return b;
    }

    public void Dispose()
    {
        foreach (DeviceBuffer b in _owned)
        {
            b.Dispose();
        }
        _owned.Clear();
    }
}
