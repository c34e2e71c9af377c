using Copal.Model.ChatTemplates;
using Copal.Model.Config;
using Copal.Tensors;
using Copal.Tensors.IO;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;

namespace Copal.Model.Weights;

/// <summary>
/// Rewrites a checkpoint folder with its sparse linear weights in the compact safetensors layout
/// (docs/sparse-formats.md), or back to a plain dense Hugging Face checkpoint. Everything else (embedding, norms,
/// config, tokenizer) is copied unchanged; the output folder appears atomically.
/// </summary>
public static unsafe class CheckpointCompactor
{
    /// <summary>Below this sparsity the bitmask saves too little to be worth a format change (auto).</summary>
    public const double MinBitmaskSparsity = 0.25;

    /// <summary>
    /// Writes <paramref name="input"/> to <paramref name="output"/> with sparse linears compact. Cancellation is
    /// checked between tensors; a cancelled run leaves no output folder. Memory holds one weight's encoding at a
    /// time, not the model's: the header needs every part's shape first, so a first pass encodes each weight for its
    /// parts and drops it, and the write encodes it again (the same bytes: encoding is deterministic, and the writer
    /// rejects a part whose length differs from its header entry). <paramref name="progress"/> hears of both passes,
    /// weight by weight.
    /// </summary>
    public static CompactReport Compact(string input, string output, CompactFormat format, bool overwrite,
        IProgress<CompactProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        ArgumentException.ThrowIfNullOrEmpty(output);
        if (!Enum.IsDefined(format))
        {
            throw new ArgumentOutOfRangeException(nameof(format), format, $"expected one of {string.Join(", ", Enum.GetNames<CompactFormat>())}");
        }
        // Locked before anything in it is read (InputFolderLock): a --force over the input between the read and the lock
        // would leave this run reading weights mapped from one folder and copying the other files from the next.
        using FolderLock? reading = InputFolderLock.Acquire(input, "the input folder");
        LlamaConfig config = LlamaConfig.Load(input);
        // Opened first: it checks the files' layers against the config's before anything loops over them.
        using SafetensorsCheckpoint source = ModelCheckpoint.Open(input, config, cancellationToken: cancellationToken);
        HashSet<string> linears = LinearNames(config);
        var metadata = source.MergedMetadata();
        if (SparseTensorCodec.SparseNames(metadata).Any())
        {
            throw new ModelLoadException($"{input}: the checkpoint is already compact; densify it first");
        }
        RequireCompactableDType(input, source, linears);
        // Claimed before the first pass, so an output that cannot be written is told before a pass over the model.
        using AtomicDirectory dir = AtomicDirectory.Create(output, overwrite, input);
        var layouts = new Dictionary<string, SparseLayout>(StringComparer.Ordinal);
        var specs = new List<TensorSpec>();
        long negativeZeros = 0;
        long inputBytes = source.Tensors.Sum(t => t.ByteLength);
        var measuring = new ByteCounter(progress, "measuring each linear's format", inputBytes);
        foreach (TensorView t in source.Tensors)
        {
            cancellationToken.ThrowIfCancellationRequested();
            measuring.Next(t.ByteLength);
            if ((linears.Contains(t.Name) ? Choose(t, format) : null) is not SparseLayout layout)
            {
                specs.Add(new TensorSpec(t.Name, t.DType, t.Shape));
                continue;
            }
            using SparseMatrix m = Build(t, layout);
            SparseEncoding enc = SparseTensorCodec.Encode(m);
            negativeZeros += SignsNotRestored(t, m);
            layouts[t.Name] = layout;
            specs.AddRange(enc.Parts.Select(p => new TensorSpec(p.Name, p.DType, p.Shape)));
            foreach (var (k, v) in enc.Metadata)
            {
                metadata[k] = v;
            }
        }
        measuring.Finish();
        // With nothing to compact the output would be a copy under a name that says compact.
        string nothing = FormattableString.Invariant(
            $"{input}: no linear would be stored compact: each is dense, or under {MinBitmaskSparsity * 100:F0} % zeros (where a bitmask is no smaller than dense){(format == CompactFormat.NM ? ", or not 2:4" : "")}; prune the model first");
        CompactReport report = Write(dir, input, specs, metadata, source, layouts.Count, nothing, writer =>
        {
            var writing = new ByteCounter(progress, "writing", inputBytes);
            foreach (TensorView t in source.Tensors)
            {
                cancellationToken.ThrowIfCancellationRequested();
                writing.Next(t.ByteLength);
                if (!layouts.TryGetValue(t.Name, out SparseLayout layout))
                {
                    writer.Write(t.Name, t);
                    continue;
                }
                using SparseMatrix m = Build(t, layout);
                foreach (SparsePart p in SparseTensorCodec.Encode(m).Parts)
                {
                    writer.Write(p.Name, p.Data.Span);
                }
            }
            writing.Finish();
        }, cancellationToken);
        return report with { NegativeZeros = negativeZeros };
    }

    /// <summary>
    /// Writes compact <paramref name="input"/> to <paramref name="output"/> with every weight dense (an input that is not compact is refused),
    /// byte-identical to the weights before compaction except that a removed weight stored as −0 comes back as +0
    /// (<see cref="CompactReport.NegativeZeros"/> counts them). Cancellation is checked between tensors;
    /// <paramref name="progress"/> hears of the writing, weight by weight. Memory holds one sparse weight at a time.
    /// </summary>
    public static CompactReport Densify(string input, string output, bool overwrite, IProgress<CompactProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        ArgumentException.ThrowIfNullOrEmpty(output);
        // Locked before anything in it is read, as Compact's input is.
        using FolderLock? reading = InputFolderLock.Acquire(input, "the input folder");
        // Compact files hold every projection apart, under its own name: read as they are.
        using SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(input, cancellationToken: cancellationToken);
        using AtomicDirectory dir = AtomicDirectory.Create(output, overwrite, input);
        // Every shard's entries: a tool that shards a checkpoint copies the whole metadata into each shard.
        Dictionary<string, string> sparseMetadata = source.MergedMetadata();
        var metadata = new Dictionary<string, string>(sparseMetadata, StringComparer.Ordinal);
        var sparseNames = SparseTensorCodec.SparseNames(metadata).ToList();
        Func<string, TensorView?> lookup = name => source.TryGet(name, out TensorView v) ? v : null;
        // A sparse weight takes the place of its first stored part, so tensor order follows the compact file.
        var partOwner = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string name in sparseNames)
        {
            foreach (string suffix in new[] { SparseTensorCodec.NMValuesSuffix, SparseTensorCodec.NMIndexSuffix, SparseTensorCodec.MaskSuffix,
                SparseTensorCodec.OffsetsSuffix, SparseTensorCodec.BitmaskValuesSuffix })
            {
                partOwner[name + suffix] = name;
            }
            metadata.Remove(SparseTensorCodec.MetadataPrefix + name);
        }
        // Each sparse weight is loaded (validated, its rank index decoded into owned memory) once here for its dtype and
        // shape, and dropped, and again when it is written: memory holds one weight's decoded index at a time, not the
        // model's (a 70B 2:4 checkpoint's is 8.6 GB), and a damaged weight is still refused before anything is written.
        var sparseWeights = new HashSet<string>(StringComparer.Ordinal);
        var tensors = new List<(string Name, DType DType, long[] Shape)>();
        var dense = new Dictionary<string, TensorView>(StringComparer.Ordinal);
        foreach (TensorView t in source.Tensors)
        {
            if (!partOwner.TryGetValue(t.Name, out string? owner))
            {
                if (SparseTensorCodec.IsNamedAsPart(t.Name, out string weight))
                {
                    // Copied as it is, it would leave a model without that weight, which nothing could load.
                    throw new ModelLoadException($"{input}: tensor '{t.Name}' is a stored part of the sparse weight '{weight}', but the metadata has no entry "
                        + $"'{SparseTensorCodec.MetadataPrefix}{weight}' giving its format and shape; the checkpoint is damaged: compact it again from its dense model");
                }
                tensors.Add((t.Name, t.DType, t.Shape));
                dense[t.Name] = t;
            }
            else if (sparseWeights.Add(owner))
            {
                using SparseMatrix m = LoadSparse(input, owner, lookup, sparseMetadata);
                tensors.Add((owner, m.DType, [m.Rows, m.Cols]));
            }
        }
        // Dense again, in the layout the architecture stores: a Phi-3's projections fused as Hugging Face reads them.
        List<WrittenTensor> written = StoredLayout.For(FusingConfig(input), tensors);
        List<TensorSpec> specs = [.. written.Select(w => new TensorSpec(w.Name, w.DType, w.Shape))];
        return Write(dir, input, specs, metadata, source, sparseWeights.Count,
            $"{input}: the checkpoint is not compact (no {SparseTensorCodec.MetadataPrefix}* entry): there is nothing to densify", writer =>
        {
            byte[]? buffer = null;
            var writing = new ByteCounter(progress, "writing", specs.Sum(t => t.ByteLength));
            foreach (WrittenTensor w in written)
            {
                foreach (string part in w.Parts)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (dense.TryGetValue(part, out TensorView t))
                    {
                        writing.Next(t.ByteLength);
                        writer.Write(w.Name, t);
                        continue;
                    }
                    using SparseMatrix m = LoadSparse(input, part, lookup, sparseMetadata);
                    int bytes = checked(m.Rows * m.Cols * m.DType.SizeOf());
                    writing.Next(bytes);
                    if (buffer is null || buffer.Length < bytes)
                    {
                        buffer = new byte[bytes];
                    }
                    m.ToDenseRaw(buffer.AsSpan(0, bytes));
                    writer.Write(w.Name, buffer.AsSpan(0, bytes));
                }
            }
            writing.Finish();
        }, cancellationToken);
    }

    /// <summary>Sparse weight <paramref name="name"/> of <paramref name="input"/>, validated; a damaged one named with the folder.</summary>
    private static SparseMatrix LoadSparse(string input, string name, Func<string, TensorView?> lookup, IReadOnlyDictionary<string, string> metadata)
    {
        try
        {
            return SparseTensorCodec.Load(name, lookup, metadata);
        }
        catch (SparseFormatException e)
        {
            throw new ModelLoadException($"{input}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The config whose layout densify writes in: the folder's, where it has one Copal reads; else null, the tensors as
    /// they are (densify needs no more of a config than that, and copies it unchanged).
    /// </summary>
    private static LlamaConfig? FusingConfig(string input)
    {
        try
        {
            return File.Exists(Path.Combine(input, "config.json")) ? LlamaConfig.Load(input) : null;
        }
        catch (ModelConfigException)
        {
            return null;
        }
    }

    /// <summary>How a sparse weight is stored: N:M with its N and M, or the bitmask (N = M = 0).</summary>
    private readonly record struct SparseLayout(SparseFormat Format, int N, int M);

    /// <summary>The names of the decoder layers' linears, the tensors a compact model may store sparse.</summary>
    private static HashSet<string> LinearNames(LlamaConfig config)
    {
        var linears = new HashSet<string>(StringComparer.Ordinal);
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            foreach (LinearId id in LinearIds.All)
            {
                linears.Add(LlamaTensorNames.Linear(layer, id));
            }
        }
        return linears;
    }

    /// <summary>
    /// Refuses, before any pass over the weights, a model whose linears the compact formats cannot hold: they store F32,
    /// BF16 or F16 values, so a model in another dtype would otherwise be said to have "nothing to compact" however
    /// sparse it is.
    /// </summary>
    /// <exception cref="CompactFormatException">A linear of <paramref name="input"/> is stored in another dtype.</exception>
    public static void RequireCompactableDType(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        LlamaConfig config = LlamaConfig.Load(input);
        using SafetensorsCheckpoint source = ModelCheckpoint.Open(input, config);
        RequireCompactableDType(input, source, LinearNames(config));
    }

    private static void RequireCompactableDType(string input, SafetensorsCheckpoint source, IReadOnlySet<string> linears)
    {
        if (source.Tensors.FirstOrDefault(t => linears.Contains(t.Name) && !SparseMatrix.HoldsValuesOf(t.DType)) is { Name: not null } other)
        {
            throw new CompactFormatException($"{input}: '{other.Name}' is {other.DType.ToSafetensorsName()}; compact storage holds F32, BF16 or F16 values only, so this model stays dense");
        }
    }

    /// <summary>The layout <paramref name="format"/> asks for this weight, or null to keep it dense.</summary>
    private static SparseLayout? Choose(TensorView t, CompactFormat format)
    {
        if (t.Rank != 2 || !SparseMatrix.HoldsValuesOf(t.DType))
        {
            return null;
        }
        SparsityStats stats = SparsityAdvisor.Measure(t);
        if (stats.Sparsity == 0)
        {
            return null;
        }
        bool twoFour = stats.Valid24 && t.Shape[1] % 4 == 0;
        var nm = new SparseLayout(SparseFormat.NM, 2, 4);
        var bitmask = new SparseLayout(SparseFormat.Bitmask, 0, 0);
        if (format == CompactFormat.NM && !twoFour)
        {
            if (stats.Sparsity < MinBitmaskSparsity)
            {
                return null; // a linear left unpruned (a stray zero or a few): dense, as auto keeps it
            }
            // A pruned linear kept dense would make "nm" quietly write a partly or wholly dense copy.
            string why = t.Shape[1] % 4 == 0
                ? FirstGroupBreaking24(t)
                : $"its {t.Shape[1]} columns are not a multiple of 4";
            throw new CompactFormatException(FormattableString.Invariant(
                $"--format nm: '{t.Name}' is {stats.Sparsity * 100:F1} % zeros but not 2:4 ({why}); --format bitmask or auto stores it"))
            {
                Option = "--format",
            };
        }
        return format switch
        {
            CompactFormat.NM => nm,
            CompactFormat.Bitmask => bitmask,
            _ when twoFour && stats.Sparsity < SparsityAdvisor.BitmaskOverTwoFour => nm,
            _ when stats.Sparsity >= MinBitmaskSparsity => bitmask,
            _ => null,
        };
    }

    /// <summary>
    /// Where <paramref name="t"/> (columns a multiple of 4) first breaks 2:4, as the encoder names it: the row, the
    /// group and its nonzeros, so the one weight too many can be found. Only a refusal pays for this pass.
    /// </summary>
    private static string FirstGroupBreaking24(TensorView t)
    {
        try
        {
            using SparseMatrix fits = NMSparseMatrix.FromTensor(t, 2, 4);
        }
        catch (SparseFormatException e)
        {
            return e.Message[$"tensor '{e.TensorName}': ".Length..];
        }
        // Not reached: the measure that refused 2:4 saw such a group, and the encoder reads the same bytes.
        return "two zeros in every group of four along a row";
    }

    /// <summary>
    /// Weights of <paramref name="t"/> whose bytes densifying <paramref name="m"/> would not give back: only −0 in a
    /// removed position can be among them (the formats keep every other weight's bits), so the dense expansion is
    /// compared only when the tensor holds a −0 at all.
    /// </summary>
    private static long SignsNotRestored(TensorView t, SparseMatrix m)
    {
        int size = t.DType.SizeOf();
        ReadOnlySpan<byte> bytes = Bytes(t);
        bool any = size == 4
            ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, uint>(bytes).Contains(0x8000_0000u)
            : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(bytes).Contains((ushort)0x8000);
        if (!any)
        {
            return 0;
        }
        byte[] dense = new byte[bytes.Length];
        m.ToDenseRaw(dense);
        return size == 4 ? Differing<uint>(bytes, dense) : Differing<ushort>(bytes, dense);
    }

    private static long Differing<T>(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) where T : unmanaged, IEquatable<T>
    {
        ReadOnlySpan<T> x = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(a), y = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(b);
        long differing = 0;
        for (int i = 0; i < x.Length; i++)
        {
            differing += x[i].Equals(y[i]) ? 0 : 1;
        }
        return differing;
    }

    private static SparseMatrix Build(TensorView t, SparseLayout layout) => layout.Format == SparseFormat.NM
        ? NMSparseMatrix.FromTensor(t, layout.N, layout.M)
        : BitmaskSparseMatrix.FromTensor(t);

    /// <summary>One stage's progress, told as each tensor starts (the bytes before it done) and when the stage ends.</summary>
    private sealed class ByteCounter(IProgress<CompactProgress>? progress, string stage, long total)
    {
        private long _done;

        public void Next(long bytes)
        {
            progress?.Report(new CompactProgress(stage, _done, total));
            _done += bytes;
        }

        public void Finish() => progress?.Report(new CompactProgress(stage, total, total));
    }

    private static ReadOnlySpan<byte> Bytes(TensorView t) => new(t.Data, checked((int)t.ByteLength));

    /// <summary>
    /// The shards of an index beside <c>model.safetensors</c>, which a folder is read from: the same weights laid
    /// out the other way, not side files. Copied without their index, they were stale dense weights beside the
    /// written ones. An index that does not read names none (loading never reads it either).
    /// </summary>
    private static IReadOnlyList<string> UnreadShards(string input)
    {
        string index = Path.Combine(input, SafetensorsCheckpoint.IndexFileName);
        if (!File.Exists(index))
        {
            return [];
        }
        try
        {
            // Only safetensors files of this folder: the index is not checked as a read one is, and a config.json it
            // named would be left out of the output.
            return [.. SafetensorsCheckpoint.ShardNames(index).Where(name =>
                name.EndsWith(".safetensors", StringComparison.Ordinal) && Path.GetFileName(name) == name)];
        }
        catch (SafetensorsException)
        {
            return [];
        }
    }

    /// <summary>Writes the model into <paramref name="dir"/>, claimed by the caller before its work began, and commits it.</summary>
    private static CompactReport Write(AtomicDirectory dir, string input, List<TensorSpec> specs, Dictionary<string, string> metadata,
        SafetensorsCheckpoint source, int sparse, string nothingToDo, Action<SafetensorsWriter> body, CancellationToken cancellationToken)
    {
        if (sparse == 0)
        {
            throw new NothingToConvertException(nothingToDo);
        }
        // Every other top-level file (config, tokenizer, a prune report, a COPAL state, whose tensors are a
        // safetensors file too) travels with the weights, and the named chat templates' folder; only the model's own
        // weight files are rewritten.
        var weightFiles = new HashSet<string>(source.Files.Select(f => Path.GetFileName(f.Path)), StringComparer.Ordinal) { SafetensorsCheckpoint.IndexFileName };
        weightFiles.UnionWith(UnreadShards(input));
        List<string> copied = [.. Directory.EnumerateFiles(input).Where(from => !weightFiles.Contains(Path.GetFileName(from)))];
        // Those copies count with the tensors: a large tokenizer.json (Llama 3's is 9 MB) passed a check of the
        // tensors alone and then filled the disk.
        dir.RequireSpace(specs.Sum(t => t.ByteLength) + copied.Sum(FileLength.Of) + ChatTemplateFiles.AdditionalBytes(input), "the written model");
        foreach (string from in copied)
        {
            dir.CopyIn(from, Path.GetFileName(from));
        }
        ChatTemplateFiles.CopyAdditional(input, dir);
        string file = dir.File(SafetensorsCheckpoint.SingleFileName);
        using (SafetensorsWriter writer = SafetensorsWriter.Create(file, specs, metadata, dir.FinalFile(SafetensorsCheckpoint.SingleFileName)))
        {
            body(writer);
            // The last points a cancellation can still leave no output (the file's flush takes a while).
            cancellationToken.ThrowIfCancellationRequested();
            writer.Commit();
        }
        long outBytes = new FileInfo(file).Length;
        long inBytes = source.Files.Sum(f => FileLength.Of(f.Path));
        cancellationToken.ThrowIfCancellationRequested();
        dir.Commit();
        return new CompactReport(specs.Count, sparse, inBytes, outBytes);
    }
}
