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
    /// checked between tensors; a cancelled run leaves no output folder.
    /// </summary>
    public static CompactReport Compact(string input, string output, CompactFormat format, bool overwrite, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        LlamaConfig config = LlamaConfig.Load(input);
        var linears = new HashSet<string>(StringComparer.Ordinal);
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            foreach (LinearId id in LinearIds.All)
            {
                linears.Add(LlamaTensorNames.Linear(layer, id));
            }
        }
        using SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(input, cancellationToken: cancellationToken);
        var metadata = MergedMetadata(source);
        if (SparseTensorCodec.SparseNames(metadata).Any())
        {
            throw new ModelLoadException($"{input}: the checkpoint is already compact; densify it first");
        }
        var encoded = new Dictionary<string, (SparseMatrix Matrix, SparseEncoding Encoding)>(StringComparer.Ordinal);
        try
        {
            var specs = new List<TensorSpec>();
            foreach (TensorView t in source.Tensors)
            {
                cancellationToken.ThrowIfCancellationRequested();
                SparseMatrix? m = linears.Contains(t.Name) ? Encode(t, format) : null;
                if (m is null)
                {
                    specs.Add(new TensorSpec(t.Name, t.DType, t.Shape));
                    continue;
                }
                var enc = SparseTensorCodec.Encode(m);
                encoded[t.Name] = (m, enc);
                specs.AddRange(enc.Parts.Select(p => new TensorSpec(p.Name, p.DType, p.Shape)));
                foreach (var (k, v) in enc.Metadata)
                {
                    metadata[k] = v;
                }
                log?.Invoke($"{t.Name}: {m.Format}{(m is NMSparseMatrix nm ? $" {nm.N}:{nm.M}" : "")} {m.BytesPerWeight:F3} B/weight");
            }
            return Write(input, output, overwrite, specs, metadata, source, encoded.Count, writer =>
            {
                foreach (TensorView t in source.Tensors)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (encoded.TryGetValue(t.Name, out var e))
                    {
                        foreach (SparsePart p in e.Encoding.Parts)
                        {
                            writer.Write(p.Name, p.Data.Span);
                        }
                    }
                    else
                    {
                        writer.Write(t.Name, Bytes(t));
                    }
                }
            });
        }
        finally
        {
            foreach (var e in encoded.Values)
            {
                e.Matrix.Dispose();
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="input"/> (compact or not) to <paramref name="output"/> with every weight dense,
    /// byte-identical to the weights before compaction. Cancellation is checked between tensors.
    /// </summary>
    public static CompactReport Densify(string input, string output, bool overwrite, CancellationToken cancellationToken = default)
    {
        using SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(input, cancellationToken: cancellationToken);
        var metadata = MergedMetadata(source);
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
        var matrices = new Dictionary<string, SparseMatrix>(StringComparer.Ordinal);
        try
        {
            var specs = new List<TensorSpec>();
            var order = new List<(string Name, TensorView? Dense)>();
            foreach (TensorView t in source.Tensors)
            {
                if (!partOwner.TryGetValue(t.Name, out string? owner))
                {
                    specs.Add(new TensorSpec(t.Name, t.DType, t.Shape));
                    order.Add((t.Name, t));
                }
                else if (!matrices.ContainsKey(owner))
                {
                    SparseMatrix m;
                    try
                    {
                        m = SparseTensorCodec.Load(owner, lookup, metadata.Concat(SparseEntries(source, owner)).ToDictionary());
                    }
                    catch (SparseFormatException e)
                    {
                        throw new ModelLoadException($"{input}: {e.Message}", e);
                    }
                    matrices[owner] = m;
                    specs.Add(new TensorSpec(owner, m.DType, [m.Rows, m.Cols]));
                    order.Add((owner, null));
                }
            }
            return Write(input, output, overwrite, specs, metadata, source, matrices.Count, writer =>
            {
                byte[]? buffer = null;
                foreach (var (name, dense) in order)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (dense is TensorView t)
                    {
                        writer.Write(name, Bytes(t));
                        continue;
                    }
                    SparseMatrix m = matrices[name];
                    int bytes = checked(m.Rows * m.Cols * m.DType.SizeOf());
                    if (buffer is null || buffer.Length < bytes)
                    {
                        buffer = new byte[bytes];
                    }
                    m.ToDenseRaw(buffer.AsSpan(0, bytes));
                    writer.Write(name, buffer.AsSpan(0, bytes));
                }
            });
        }
        finally
        {
            foreach (SparseMatrix m in matrices.Values)
            {
                m.Dispose();
            }
        }
    }

    private static SparseMatrix? Encode(TensorView t, CompactFormat format)
    {
        if (t.Rank != 2 || t.DType is not (DType.F32 or DType.BF16))
        {
            return null;
        }
        SparsityStats stats = SparsityAdvisor.Measure(t);
        if (stats.Sparsity == 0)
        {
            return null;
        }
        bool twoFour = stats.Valid24 && t.Shape[1] % 4 == 0;
        return format switch
        {
            CompactFormat.NM => twoFour ? NMSparseMatrix.FromTensor(t, 2, 4) : null,
            CompactFormat.Bitmask => BitmaskSparseMatrix.FromTensor(t),
            _ when twoFour && stats.Sparsity < SparsityAdvisor.BitmaskOverTwoFour => NMSparseMatrix.FromTensor(t, 2, 4),
            _ when stats.Sparsity >= MinBitmaskSparsity => BitmaskSparseMatrix.FromTensor(t),
            _ => null,
        };
    }

    private static IEnumerable<KeyValuePair<string, string>> SparseEntries(SafetensorsCheckpoint source, string name)
    {
        string key = SparseTensorCodec.MetadataPrefix + name;
        foreach (SafetensorsFile f in source.Files)
        {
            if (f.Metadata.TryGetValue(key, out string? v))
            {
                yield return new(key, v);
            }
        }
    }

    private static Dictionary<string, string> MergedMetadata(SafetensorsCheckpoint source)
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (SafetensorsFile f in source.Files)
        {
            foreach (var (k, v) in f.Metadata)
            {
                metadata[k] = v;
            }
        }
        return metadata;
    }

    private static ReadOnlySpan<byte> Bytes(TensorView t) => new(t.Data, checked((int)t.ByteLength));

    private static CompactReport Write(string input, string output, bool overwrite, List<TensorSpec> specs, Dictionary<string, string> metadata,
        SafetensorsCheckpoint source, int sparse, Action<SafetensorsWriter> body)
    {
        using AtomicDirectory dir = AtomicDirectory.Create(output, overwrite, input);
        // Every other top-level file (config, tokenizer, a prune report) travels with the weights.
        foreach (string from in Directory.EnumerateFiles(input))
        {
            string name = Path.GetFileName(from);
            if (!name.EndsWith(".safetensors", StringComparison.Ordinal) && name != SafetensorsCheckpoint.IndexFileName)
            {
                dir.CopyIn(from, name);
            }
        }
        string file = dir.File(SafetensorsCheckpoint.SingleFileName);
        using (SafetensorsWriter writer = SafetensorsWriter.Create(file, specs, metadata))
        {
            body(writer);
            writer.Commit();
        }
        long outBytes = new FileInfo(file).Length;
        long inBytes = source.Files.Sum(f => new FileInfo(f.Path).Length);
        dir.Commit();
        return new CompactReport(specs.Count, sparse, inBytes, outBytes);
    }
}
