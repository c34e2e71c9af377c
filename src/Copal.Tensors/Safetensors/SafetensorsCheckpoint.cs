using Copal.Tensors.IO;
using Copal.Tensors.Sparse;

namespace Copal.Tensors.Safetensors;

/// <summary>
/// The weights of a model: one safetensors file, or the shards listed by a Hugging Face
/// <c>model.safetensors.index.json</c>, seen as one set of named tensors. All files stay mapped (or their copies in
/// memory, <see cref="WeightResidence"/>) until disposed.
/// </summary>
public sealed class SafetensorsCheckpoint : IDisposable
{
    /// <summary>The single-file checkpoint name Hugging Face writes.</summary>
    public const string SingleFileName = "model.safetensors";

    /// <summary>The sharded-checkpoint index name Hugging Face writes.</summary>
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly SafetensorsFile[] _files;
    private readonly NamedTensors _named;
    private bool _disposed;

    private SafetensorsCheckpoint(string path, SafetensorsFile[] files, TensorView[] tensors)
    {
        Path = path;
        _files = files;
        _named = new NamedTensors(path, tensors);
    }

    /// <summary>The file, index or folder this was opened from.</summary>
    public string Path { get; }

    /// <summary>Whether the tensors are views into mappings of the files or into copies read at open.</summary>
    public WeightResidence Residence => _files[0].Residence;

    /// <summary>The opened files, shards in file-name order.</summary>
    public IReadOnlyList<SafetensorsFile> Files
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _files;
        }
    }

    /// <summary>Every tensor: file by file, each file's in data order. The views are valid until Dispose.</summary>
    public IReadOnlyList<TensorView> Tensors => Named.All;

    /// <summary>The metadata of the first file (a sharded checkpoint's files may each hold their own: see <see cref="MergedMetadata"/>).</summary>
    public IReadOnlyDictionary<string, string> Metadata => _files[0].Metadata;

    /// <summary>
    /// Every file's metadata in one dictionary: what describes the whole checkpoint, e.g. the <c>copal.sparse.*</c>
    /// entries of compact weights in whichever shard holds them (sharding tools often copy them into every shard).
    /// A later file's entry wins a repeated key, except a compact weight's description: two shards that describe one
    /// weight differently are refused, since the one taken would decode the weight's parts by the wrong layout.
    /// </summary>
    public Dictionary<string, string> MergedMetadata()
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var from = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (SafetensorsFile file in Files)
        {
            foreach (var (key, value) in file.Metadata)
            {
                if (key.StartsWith(SparseTensorCodec.MetadataPrefix, StringComparison.Ordinal)
                    && metadata.TryGetValue(key, out string? earlier) && !string.Equals(earlier, value, StringComparison.Ordinal))
                {
                    throw new SafetensorsException(file.Path,
                        $"metadata entry '{key}' is '{value}' here, but '{from[key]}' holds '{earlier}'; expected every shard that describes a compact weight to describe it alike");
                }
                metadata[key] = value;
                from[key] = file.Path;
            }
        }
        return metadata;
    }

    /// <summary>
    /// Opens a <c>.safetensors</c> file, a <c>.index.json</c> shard index, or a folder holding
    /// <c>model.safetensors</c>, else <c>model.safetensors.index.json</c>, else exactly one <c>*.safetensors</c>.
    /// <see cref="WeightResidence.Auto"/> is decided once for all the files, on their total size.
    /// </summary>
    public static SafetensorsCheckpoint Open(string fileOrDirectory, WeightResidence residence = WeightResidence.Mapped, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(fileOrDirectory);
        if (Directory.Exists(fileOrDirectory))
        {
            return OpenDirectory(fileOrDirectory, residence, cancellationToken);
        }
        if (!File.Exists(fileOrDirectory))
        {
            throw new SafetensorsException(fileOrDirectory, "no such file or folder");
        }
        return fileOrDirectory.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
            ? OpenSharded(fileOrDirectory, residence, cancellationToken)
            : OpenSingle(fileOrDirectory, residence, cancellationToken);
    }

    /// <summary>
    /// The shard files the index at <paramref name="indexPath"/> names, each once, without opening them; a
    /// <see cref="SafetensorsException"/> where the index does not read.
    /// </summary>
    public static IReadOnlyList<string> ShardNames(string indexPath) =>
        [.. ShardIndex.ReadWeightMap(indexPath).Select(kv => kv.Value).Distinct(StringComparer.Ordinal)];

    private static SafetensorsCheckpoint OpenDirectory(string directory, WeightResidence residence, CancellationToken cancellationToken)
    {
        string single = System.IO.Path.Combine(directory, SingleFileName);
        string index = System.IO.Path.Combine(directory, IndexFileName);
        foreach (string named in new[] { single, index })
        {
            if (Directory.Exists(named))
            {
                throw new SafetensorsException(named, "is a directory, expected a file");
            }
        }
        if (File.Exists(single))
        {
            return OpenSingle(single, residence, cancellationToken);
        }
        if (File.Exists(index))
        {
            return OpenSharded(index, residence, cancellationToken);
        }
        string[] candidates = Directory.GetFiles(directory, "*.safetensors");
        Array.Sort(candidates, StringComparer.Ordinal);
        return candidates.Length switch
        {
            1 => OpenSingle(candidates[0], residence, cancellationToken),
            0 => throw new SafetensorsException(directory,
                $"folder has no {SingleFileName}, no {IndexFileName} and no other *.safetensors file"),
            _ => throw new SafetensorsException(directory,
                $"folder has no {SingleFileName} or {IndexFileName} but {candidates.Length} *.safetensors files ({string.Join(", ", candidates.Select(System.IO.Path.GetFileName))}); name the one to open"),
        };
    }

    private static SafetensorsCheckpoint OpenSingle(string file, WeightResidence residence, CancellationToken cancellationToken)
    {
        SafetensorsFile opened = SafetensorsFile.Open(file, residence, cancellationToken);
        return WithSparseParts(new SafetensorsCheckpoint(file, [opened], [.. opened.Tensors]));
    }

    /// <summary>
    /// <paramref name="checkpoint"/>, once every compact weight its metadata declares has a known format and dense shape
    /// (<see cref="SparseTensorCodec.CheckDeclared"/>) and its stored parts (<see cref="SparseTensorCodec.MissingParts"/>)
    /// in the shapes that dense shape gives them (<see cref="SparseTensorCodec.CheckPartShapes"/>).
    /// </summary>
    private static SafetensorsCheckpoint WithSparseParts(SafetensorsCheckpoint checkpoint)
    {
        try
        {
            Dictionary<string, string> metadata = checkpoint.MergedMetadata();
            foreach (string name in SparseTensorCodec.SparseNames(metadata))
            {
                // Two weights under one name: inspect counted both, a model ran on the compact one, densify wrote it twice.
                if (checkpoint.TryGet(name, out _))
                {
                    throw new SafetensorsException(checkpoint.Path,
                        $"tensor '{name}' is stored both dense and compact (metadata entry '{SparseTensorCodec.MetadataPrefix}{name}' and its parts); expected one or the other");
                }
                SparseTensorCodec.CheckDeclared(name, metadata);
                if (SparseTensorCodec.MissingParts(name, metadata, part => checkpoint.TryGet(part, out _)) is string missing)
                {
                    throw new SafetensorsException(checkpoint.Path, missing);
                }
                SparseTensorCodec.CheckPartShapes(name, metadata, part => checkpoint[part]);
            }
            return checkpoint;
        }
        catch (Exception e) when (e is SafetensorsException or SparseFormatException)
        {
            checkpoint.Dispose();
            // An entry that does not parse ("garbage") is the file's fault: named with the file, as any other.
            throw e as SafetensorsException ?? new SafetensorsException(checkpoint.Path, e.Message, null, e);
        }
    }

    private static SafetensorsCheckpoint OpenSharded(string indexPath, WeightResidence residence, CancellationToken cancellationToken)
    {
        List<KeyValuePair<string, string>> weightMap = ShardIndex.ReadWeightMap(indexPath);
        if (weightMap.Count == 0)
        {
            throw new SafetensorsException(indexPath, "weight_map is empty");
        }
        // The index's folder as the caller spelled it (not made absolute): a shard's errors then name it as the
        // user gave the model, as every other file's do ("" for a bare index name: the working folder).
        string directory = System.IO.Path.GetDirectoryName(indexPath) ?? "";
        string[] shardNames = [.. weightMap.Select(kv => kv.Value).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        var files = new List<SafetensorsFile>(shardNames.Length);
        // Decided once for all shards (a missing one counts 0 here and is reported below).
        residence = WeightResidencePolicy.Resolve(residence,
            shardNames.Sum(shard => FileLength.Of(System.IO.Path.Combine(directory, shard))));
        try
        {
            var byName = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (string shard in shardNames)
            {
                string shardPath = System.IO.Path.Combine(directory, shard);
                if (!File.Exists(shardPath))
                {
                    throw new SafetensorsException(indexPath, $"weight_map names shard '{shard}', which is not in the index's folder");
                }
                SafetensorsFile file = SafetensorsFile.Open(shardPath, residence, cancellationToken);
                files.Add(file);
                byName.Add(shard, file);
            }

            var listed = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach ((string tensor, string shard) in weightMap)
            {
                if (!byName[shard].TryGet(tensor, out _))
                {
                    throw new SafetensorsException(indexPath,
                        $"weight_map puts tensor '{tensor}' in shard '{shard}', but that shard does not hold it: " +
                        NameSuggestions.Describe(tensor, byName[shard].Tensors.Select(t => t.Name), byName[shard].Tensors.Count));
                }
                listed.Add(tensor, byName[shard]);
            }

            // A shard tensor the index does not list means index and shards disagree (a stale index, a wrong file).
            var tensors = new List<TensorView>(weightMap.Count);
            foreach (SafetensorsFile file in files)
            {
                foreach (TensorView view in file.Tensors)
                {
                    if (!listed.TryGetValue(view.Name, out SafetensorsFile? owner) || owner != file)
                    {
                        string where = owner is null ? "which weight_map does not list" : $"which weight_map puts in '{System.IO.Path.GetFileName(owner.Path)}'";
                        throw new SafetensorsException(indexPath,
                            $"shard '{System.IO.Path.GetFileName(file.Path)}' holds tensor '{view.Name}', {where}");
                    }
                    tensors.Add(view);
                }
            }
            // A shard whose metadata declares compact weights may hold them in another shard; the whole is checked.
            return WithSparseParts(new SafetensorsCheckpoint(indexPath, [.. files], [.. tensors]));
        }
        catch
        {
            foreach (SafetensorsFile file in files)
            {
                file.Dispose();
            }
            throw;
        }
    }

    /// <summary>Looks a tensor up by its exact name in any file.</summary>
    public bool TryGet(string name, out TensorView view) => Named.TryGet(name, out view);

    /// <summary>The tensor named <paramref name="name"/>; throws <see cref="SafetensorsException"/> listing the nearest names if absent.</summary>
    public TensorView this[string name] => Named.Get(name);

    private NamedTensors Named
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _named;
        }
    }

    /// <summary>
    /// Replaces the 2-D tensor <paramref name="fused"/> by consecutive row ranges of it, named and sized by
    /// <paramref name="parts"/>, in its place: views into the same bytes, nothing copied. This is how a checkpoint
    /// that stores several projections as one matrix (Phi-3's qkv_proj) is read as the separate projections.
    /// </summary>
    /// <exception cref="SafetensorsException">The tensor is not 2-D, the parts' rows do not add up to its rows, or a
    /// part's name is taken; the message names the tensor with the expected and actual rows.</exception>
    public unsafe void SplitRows(string fused, IReadOnlyList<(string Name, long Rows)> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        TensorView whole = this[fused];
        long total = parts.Sum(p => p.Rows);
        if (whole.Rank != 2 || whole.Shape[0] != total)
        {
            throw new SafetensorsException(Path, $"tensor '{fused}' should be a matrix of {total} rows ({string.Join(" + ", parts.Select(p => $"{p.Name} {p.Rows}"))}), found shape {whole.ShapeString}");
        }
        long rowBytes = whole.Shape[1] * whole.DType.SizeOf();
        var views = new List<TensorView>(parts.Count);
        long row = 0;
        foreach ((string name, long rows) in parts)
        {
            if (_named.Contains(name))
            {
                throw new SafetensorsException(Path, $"holds both '{fused}' and '{name}', a part of it; expected one or the other");
            }
            views.Add(new TensorView(name, whole.DType, [rows, whole.Shape[1]], whole.Data + (row * rowBytes), rows * rowBytes));
            row += rows;
        }
        _named.Replace(fused, views);
    }

    /// <summary>Unmaps every file; the tensors, files and lookups then throw <see cref="ObjectDisposedException"/>. Disposing again does nothing.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (SafetensorsFile file in _files)
        {
            file.Dispose();
        }
    }
}
