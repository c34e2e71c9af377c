using System.Globalization;
using Copal.Tensors;
using Copal.Tensors.IO;
using Copal.Tensors.Safetensors;

namespace Copal.Prune.Continual;

// The accumulated Hessians: which slots a linear keeps, and how they move between memory, the spill folder and the state file.
public sealed partial class CopalState
{
    /// <summary>The accumulated Hessian of <paramref name="name"/> as a full [cols, cols] matrix (a copy), from memory, the spill or the state file.</summary>
    /// <exception cref="CopalStateException">The linear keeps no Hessian.</exception>
    public float[] ReadHessian(string name)
    {
        LinearState l = _linears[name];
        return l.Hessian is not null ? (float[])l.Hessian.Clone() : LoadHessian(l, keep: false);
    }

    /// <summary>
    /// Which of a linear's accumulated [cols, cols] matrices: the main Gram, the one through the dense upstream, or the
    /// cross term of the dense target. The two Grams are symmetric and stored as upper triangles; the cross term whole.
    /// </summary>
    internal enum HessianSlot
    {
        Main,
        DenseUpstream,
        CrossTerm,
    }

    private static readonly HessianSlot[] s_slots = [HessianSlot.Main, HessianSlot.DenseUpstream, HessianSlot.CrossTerm];

    private static float[]? Held(LinearState l, HessianSlot slot) => slot switch
    {
        HessianSlot.Main => l.Hessian,
        HessianSlot.DenseUpstream => l.DenseUpstreamHessian,
        _ => l.CrossTerm,
    };

    private static void Hold(LinearState l, HessianSlot slot, float[]? matrix)
    {
        switch (slot)
        {
            case HessianSlot.Main:
                l.Hessian = matrix;
                break;
            case HessianSlot.DenseUpstream:
                l.DenseUpstreamHessian = matrix;
                break;
            default:
                l.CrossTerm = matrix;
                break;
        }
    }

    private static bool Has(LinearState l, HessianSlot slot) => slot switch
    {
        HessianSlot.Main => l.HasHessian,
        HessianSlot.DenseUpstream => l.HasDenseUpstreamHessian,
        _ => l.HasCrossTerm,
    };

    // How a slot is stored: the symmetric Grams as upper triangles, the cross term whole.
    private static long StoredLength(HessianSlot slot, int cols) => slot == HessianSlot.CrossTerm ? (long)cols * cols : PackedSymmetric.Length(cols);

    private static float[] Packed(HessianSlot slot, float[] full, int cols)
    {
        if (slot == HessianSlot.CrossTerm)
        {
            return full;
        }
        var packed = new float[PackedSymmetric.Length(cols)];
        PackedSymmetric.Pack(full, packed, cols);
        return packed;
    }

    private static void Unpack(HessianSlot slot, ReadOnlySpan<float> stored, float[] full, int cols)
    {
        if (slot == HessianSlot.CrossTerm)
        {
            stored.CopyTo(full);
        }
        else
        {
            PackedSymmetric.Unpack(stored, full, cols);
        }
    }

    private static string SlotDescription(HessianSlot slot) => slot switch
    {
        HessianSlot.Main => "Hessian",
        HessianSlot.DenseUpstream => "dense-upstream Hessian",
        _ => "dense-target cross term",
    };

    /// <summary>Called when a linear of <paramref name="layer"/> is about to be pruned: the other layers' Hessians leave memory for the spill.</summary>
    internal void EnterLayer(int layer)
    {
        string prefix = string.Create(CultureInfo.InvariantCulture, $"model.layers.{layer}.");
        foreach (LinearState l in _linears.Values)
        {
            foreach (HessianSlot slot in s_slots)
            {
                if (Held(l, slot) is not null && !l.Name.StartsWith(prefix, StringComparison.Ordinal))
                {
                    Spill(l, slot);
                }
            }
        }
    }

    /// <summary>
    /// Matrices at least this large go to the spill as soon as <see cref="Release"/> says they are done with (smaller
    /// ones wait for the next layer: writing them early would save no memory worth a file).
    /// </summary>
    internal long EarlySpillBytes { get; set; } = DefaultEarlySpillBytes;

    /// <summary>The default of <see cref="EarlySpillBytes"/>: 64 MiB.</summary>
    internal const long DefaultEarlySpillBytes = 64L << 20;

    /// <summary>
    /// Called when every linear of <paramref name="name"/>'s input group has been pruned in this step: its Hessians
    /// (both slots, or <paramref name="only"/> one) leave memory for the spill now rather than when the next layer
    /// starts (at LLaMA-7B a layer's are 0.7 GB per slot, most of it down_proj's, held while down_proj was swept).
    /// </summary>
    internal void Release(string name, HessianSlot? only = null)
    {
        LinearState l = _linears[name];
        if ((long)l.Cols * l.Cols * sizeof(float) < EarlySpillBytes)
        {
            return;
        }
        foreach (HessianSlot slot in s_slots)
        {
            if ((only is null || only == slot) && Held(l, slot) is not null)
            {
                Spill(l, slot);
            }
        }
    }

    /// <summary>The accumulated Hessian of <paramref name="l"/> in memory, read from the spill or the state file if needed (and then held until its layer is done).</summary>
    internal float[] LoadHessian(LinearState l, bool keep = true, HessianSlot slot = HessianSlot.Main)
    {
        if (Held(l, slot) is float[] held)
        {
            return held;
        }
        if (!Has(l, slot))
        {
            throw new CopalStateException($"the COPAL state keeps no accumulated {SlotDescription(slot)} for '{l.Name}'");
        }
        var full = new float[(long)l.Cols * l.Cols];
        if (_spilled.Contains(SpillKey(l.Name, slot)))
        {
            using var f = new FileStream(SpillPath(l.Name, slot), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            var stored = new float[StoredLength(slot, l.Cols)];
            FloatStreams.ReadExactly(f, stored);
            Unpack(slot, stored, full, l.Cols);
        }
        else
        {
            string path = _source ?? throw new CopalStateException($"the COPAL state's {SlotDescription(slot)} of '{l.Name}' has no file to be read from");
            using SafetensorsFile file = SafetensorsFile.Open(path);
            TensorView t = Require(file, path, HessianName(l.Name, slot), DType.F32, [StoredLength(slot, l.Cols)]);
            RequireFinite(t, path, HessianName(l.Name, slot));
            Unpack(slot, t.AsSpan<float>(), full, l.Cols);
        }
        if (keep)
        {
            Hold(l, slot, full);
        }
        return full;
    }

    /// <summary>Deletes the spill folder (if this state made it) and forgets what was spilled: for a run that is abandoned.</summary>
    public void DiscardSpill()
    {
        _spilled.Clear();
        if (_spillDirectory is not null && Directory.Exists(_spillDirectory))
        {
            Directory.Delete(_spillDirectory, recursive: true);
        }
        if (_ownsSpillDirectory)
        {
            _spillDirectory = null;
            _ownsSpillDirectory = false;
        }
    }

    private void Spill(LinearState l, HessianSlot slot)
    {
        if (_spillDirectory is null)
        {
            _spillDirectory = TemporaryNames.CreateFolderIn(Path.GetTempPath(), "copal-state-spill");
            _ownsSpillDirectory = true;
        }
        float[] packed = Packed(slot, Held(l, slot)!, l.Cols);
        string path = SpillPath(l.Name, slot);
        try
        {
            Directory.CreateDirectory(_spillDirectory);
            using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
            FloatStreams.Write(f, packed);
        }
        catch (Exception e) when (AtomicDirectory.IsWriteFailure(e))
        {
            // A full disk (or a file-size limit) while a layer is pruned: .NET's message names the hidden spill file,
            // or, for a file past the size limit, no file at all. Said as the output's, as its other files are.
            TemporaryNames.DeleteQuietly(path);
            string where = _runOutputShown ?? $"the COPAL state's spill folder '{_spillDirectory}'";
            throw new IOException($"{where}: cannot write the {SlotDescription(slot)} of '{l.Name}' that the COPAL state keeps until it is saved: {AtomicDirectory.Reason(e)}", e);
        }
        _spilled.Add(SpillKey(l.Name, slot));
        Hold(l, slot, null);
    }

    private static string SpillKey(string name, HessianSlot slot) => slot switch
    {
        HessianSlot.Main => Module(name),
        HessianSlot.DenseUpstream => Module(name) + ".dense_upstream",
        _ => Module(name) + ".cross_term",
    };

    private string SpillPath(string name, HessianSlot slot) => Path.Combine(_spillDirectory!, SpillKey(name, slot) + ".f32");
}
