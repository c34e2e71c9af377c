using Copal.Model.Config;
using Copal.Tensors.Backends;
using Copal.Tensors.Kernels;

namespace Copal.Model.Inference;

// The RoPE cos and sin tables, grown with the positions a run reaches, never to the whole context at once.
public sealed partial class LlamaModel
{
    private readonly RopeScaling? _ropeScaling;
    private DeviceBuffer? _ropeCos; // [RopePositions, headDim/2]
    private DeviceBuffer? _ropeSin; // [RopePositions, headDim/2]
    // Gemma 3's sliding layers turn q and k with their own base and no scaling (LlamaConfig.LocalRopeTheta).
    private DeviceBuffer? _localRopeCos; // [RopePositions, headDim/2], or null
    private DeviceBuffer? _localRopeSin;

    /// <summary>Positions the RoPE tables hold now: the furthest any run has reached, grown geometrically.</summary>
    public int RopePositions { get; private set; }

    /// <summary>Bytes of the RoPE cos and sin tables now: 2 · <see cref="RopePositions"/> · headDim/2 · 4, twice on Gemma 3 (local and global tables).</summary>
    public long RopeTableBytes => RopeTableBytesFor(Config, RopePositions);

    /// <summary>Bytes of <paramref name="config"/>'s RoPE tables for <paramref name="positions"/> positions (see <see cref="RopeTableBytes"/>).</summary>
    public static long RopeTableBytesFor(LlamaConfig config, long positions)
    {
        ArgumentNullException.ThrowIfNull(config);
        return (config.LocalRopeTheta is null ? 2L : 4L) * positions * (config.RotaryDim / 2) * sizeof(float);
    }

    /// <summary>
    /// Makes the RoPE tables hold at least <paramref name="positions"/> positions: if they are shorter they are
    /// reallocated for max(positions, twice their length), capped by the model's context; the rows held are copied
    /// over (Allocate + Copy) and only the new rows are computed, with the values a full table has.
    /// </summary>
    internal void EnsureRope(int positions)
    {
        // The lock first: a Dispose waiting behind a pass in flight runs before this call goes on.
        using Lock.Scope run = _run.EnterScope();
        ThrowIfDisposed();
        if (positions <= RopePositions)
        {
            return;
        }
        if (positions > Config.MaxPositionEmbeddings)
        {
            throw new ArgumentOutOfRangeException(nameof(positions), positions,
                $"positions 0..{positions - 1} exceed the model's context of {Config.MaxPositionEmbeddings} positions (max_position_embeddings)");
        }
        int grown = (int)Math.Min(Config.MaxPositionEmbeddings, Math.Max(positions, 2L * RopePositions));
        (DeviceBuffer cos, DeviceBuffer sin) = Grown(_ropeCos, _ropeSin, grown, Config.RopeTheta, _ropeScaling);
        if (Config.LocalRopeTheta is double local)
        {
            (DeviceBuffer Cos, DeviceBuffer Sin) localTables;
            try
            {
                localTables = Grown(_localRopeCos, _localRopeSin, grown, local, null);
            }
            catch
            {
                cos.Dispose();
                sin.Dispose();
                throw;
            }
            _localRopeCos?.Dispose();
            _localRopeSin?.Dispose();
            (_localRopeCos, _localRopeSin) = localTables;
        }
        _ropeCos?.Dispose();
        _ropeSin?.Dispose();
        _ropeCos = cos;
        _ropeSin = sin;
        RopePositions = grown;
    }

    /// <summary>
    /// New cos and sin tables of <paramref name="grown"/> positions: the rows <paramref name="heldCos"/> and
    /// <paramref name="heldSin"/> hold (<see cref="RopePositions"/> of them) copied over, the new rows computed.
    /// </summary>
    private (DeviceBuffer Cos, DeviceBuffer Sin) Grown(DeviceBuffer? heldCos, DeviceBuffer? heldSin, int grown, double theta, RopeScaling? scaling)
    {
        int half = Config.RotaryDim / 2;
        RopeTables added = RopeTables.Build(RopePositions, grown - RopePositions, Config.RotaryDim, theta, scaling);
        DeviceBuffer cos = Backend.Allocate((long)grown * half);
        DeviceBuffer? sin = null;
        try
        {
            sin = Backend.Allocate((long)grown * half);
            long held = (long)RopePositions * half;
            if (held > 0)
            {
                Backend.Copy(heldCos!, 0, cos, 0, held);
                Backend.Copy(heldSin!, 0, sin, 0, held);
            }
            Backend.Upload(added.Cos, cos, held);
            Backend.Upload(added.Sin, sin, held);
            Backend.Synchronize();
            return (cos, sin);
        }
        catch
        {
            cos.Dispose();
            sin?.Dispose();
            throw;
        }
    }

    /// <summary>The RoPE tables <paramref name="layer"/> turns q and k with: Gemma 3's local ones on its sliding layers, else the model's.</summary>
    private (DeviceBuffer Cos, DeviceBuffer Sin) RopeOf(int layer) =>
        Config.UsesLocalRope(layer) ? (_localRopeCos!, _localRopeSin!) : (_ropeCos!, _ropeSin!);

    /// <summary>The RoPE tables as they are now, read back (for tests). // 2 × [RopePositions, rotaryDim/2]</summary>
    internal (float[] Cos, float[] Sin) ReadRopeTables()
    {
        using Lock.Scope run = _run.EnterScope();
        ThrowIfDisposed();
        var cos = new float[(long)RopePositions * (Config.RotaryDim / 2)];
        var sin = new float[cos.Length];
        if (cos.Length > 0)
        {
            Backend.Download(_ropeCos!, cos);
            Backend.Download(_ropeSin!, sin);
        }
        return (cos, sin);
    }

    /// <summary>The config's rope_scaling in the kernel library's terms (HF rope_type names).</summary>
    internal static RopeScaling? RopeScalingOf(RopeScalingConfig s) => s.Kind switch
    {
        RopeScalingKind.Linear => new RopeScaling("linear", s.Factor),
        RopeScalingKind.Llama3 => new RopeScaling("llama3", s.Factor, s.LowFreqFactor, s.HighFreqFactor, s.OriginalMaxPositionEmbeddings),
        RopeScalingKind.LongRope => new RopeScaling("longrope", s.Factor, OriginalMaxPositionEmbeddings: s.OriginalMaxPositionEmbeddings)
        {
            ShortFactors = s.ShortFactors,
            LongFactors = s.LongFactors,
            AttentionFactor = s.AttentionFactor,
        },
        RopeScalingKind.Yarn => new RopeScaling("yarn", s.Factor, OriginalMaxPositionEmbeddings: s.OriginalMaxPositionEmbeddings)
        {
            AttentionFactor = s.AttentionFactor,
            BetaFast = s.BetaFast,
            BetaSlow = s.BetaSlow,
            Truncate = s.Truncate,
        },
        _ => null,
    };
}
