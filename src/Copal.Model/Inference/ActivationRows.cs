using Copal.Model.Config;
using Copal.Tensors.Backends;

namespace Copal.Model.Inference;

/// <summary>
/// The activation buffers of a <see cref="RunState"/> for a number of rows, and its logits: allocated together and
/// replaced together when the state needs more rows (<see cref="RunState.EnsureRows"/>). What they hold is scratch of
/// one forward call, so a replacement copies nothing.
/// </summary>
internal sealed class ActivationRows : IDisposable
{
    private readonly DeviceBuffer[] _all;

    private ActivationRows(DeviceBuffer[] all) => _all = all;

    /// <summary>
    /// Buffers for <paramref name="rows"/> rows of every activation and <paramref name="logitRows"/> rows of logits.
    /// Where the backend refuses one, those made are freed before the refusal goes on.
    /// </summary>
    public static ActivationRows Allocate(IBackend backend, LlamaConfig config, int rows, int logitRows)
    {
        // Hidden, Normed, Q, K, V, AttentionOut, Projected, Gate, Up, Logits: the order the properties read them in.
        long[] floats = [.. new long[] { config.HiddenSize, config.HiddenSize, config.QDim, config.KvDim, config.KvDim, config.QDim, config.HiddenSize,
            config.IntermediateSize, config.IntermediateSize }.Select(width => rows * width), (long)logitRows * config.VocabSize];
        var all = new DeviceBuffer[floats.Length];
        int made = 0;
        try
        {
            for (; made < floats.Length; made++)
            {
                all[made] = backend.Allocate(floats[made]);
            }
            return new ActivationRows(all);
        }
        catch
        {
            for (int i = 0; i < made; i++)
            {
                all[i].Dispose();
            }
            throw;
        }
    }

    /// <summary>Bytes of every buffer: rows × the activations' widths, and the logits, × 4.</summary>
    public long Bytes => _all.Sum(b => b.Length) * sizeof(float);

    public DeviceBuffer Hidden => _all[0];
    public DeviceBuffer Normed => _all[1];
    public DeviceBuffer Q => _all[2];
    public DeviceBuffer K => _all[3];
    public DeviceBuffer V => _all[4];
    public DeviceBuffer AttentionOut => _all[5];
    public DeviceBuffer Projected => _all[6];
    public DeviceBuffer Gate => _all[7];
    public DeviceBuffer Up => _all[8];
    public DeviceBuffer Logits => _all[9];

    public void Dispose()
    {
        foreach (DeviceBuffer b in _all)
        {
            b.Dispose();
        }
    }
}
