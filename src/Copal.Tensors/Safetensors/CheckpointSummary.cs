using Copal.Tensors.Sparse;

namespace Copal.Tensors.Safetensors;

/// <summary>One tensor of a checkpoint as <c>copal inspect</c> lists it.</summary>
/// <param name="Name">The stored tensor's name (a compact weight's parts are listed one by one).</param>
/// <param name="DType">Its stored dtype.</param>
/// <param name="Shape">Its stored shape.</param>
/// <param name="ElementCount">Its elements.</param>
/// <param name="ByteLength">Its bytes in the file.</param>
/// <param name="File">The name (not the path) of the safetensors file holding it.</param>
internal sealed record TensorSummary(string Name, DType DType, long[] Shape, long ElementCount, long ByteLength, string File)
{
    /// <summary>The shape as text, e.g. "[4096, 11008]".</summary>
    public string ShapeString => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>Tensors, stored elements and bytes of one dtype across a checkpoint (a compact weight's parts as stored).</summary>
/// <param name="Tensors">Stored tensors of the dtype.</param>
/// <param name="Elements">Their elements.</param>
/// <param name="Bytes">Their bytes.</param>
internal readonly record struct DTypeTotals(int Tensors, long Elements, long Bytes);

/// <summary>
/// What a checkpoint holds: every tensor (name, dtype, shape, file), the model's parameter count, the bytes, and the
/// stored elements and bytes per dtype. A compact checkpoint's sparse weight (<c>copal.sparse.*</c>) counts its
/// dense shape's parameters, not the elements of its stored parts (values, indices, masks, offsets): a model pruned
/// and compacted has as many parameters as before, <see cref="SparseWeights"/> of them stored as
/// <see cref="SparseStoredValues"/> values.
/// </summary>
/// <param name="Tensors">Every stored tensor, in the checkpoint's order.</param>
/// <param name="ParameterCount">The model's parameters: dense tensors' elements plus the dense shapes of compact weights.</param>
/// <param name="ByteCount">Bytes of every stored tensor (headers not counted).</param>
/// <param name="ByDType">Stored totals per dtype, in <see cref="DType"/> order.</param>
/// <param name="Metadata">The safetensors metadata (<c>__metadata__</c>) of every file of the checkpoint (<see cref="SafetensorsCheckpoint.MergedMetadata"/>).</param>
/// <param name="SparseWeights">Weights stored compact.</param>
/// <param name="SparseStoredValues">Values the compact weights keep (their value parts' elements).</param>
internal sealed record CheckpointSummary(
    IReadOnlyList<TensorSummary> Tensors,
    long ParameterCount,
    long ByteCount,
    IReadOnlyDictionary<DType, DTypeTotals> ByDType,
    IReadOnlyDictionary<string, string> Metadata,
    int SparseWeights = 0,
    long SparseStoredValues = 0)
{
    /// <summary>Summarizes <paramref name="checkpoint"/>; tensors in its order, dtypes in enum order.</summary>
    public static CheckpointSummary From(SafetensorsCheckpoint checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var tensors = new List<TensorSummary>(checkpoint.Tensors.Count);
        var fileOf = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (SafetensorsFile file in checkpoint.Files)
        {
            foreach (TensorView view in file.Tensors)
            {
                fileOf[view.Name] = System.IO.Path.GetFileName(file.Path);
            }
        }
        var byDType = new SortedDictionary<DType, DTypeTotals>();
        long parameters = 0, bytes = 0;
        long storedValues = 0;
        Dictionary<string, string> metadata = checkpoint.MergedMetadata();
        foreach (TensorView view in checkpoint.Tensors)
        {
            tensors.Add(new TensorSummary(view.Name, view.DType, view.Shape, view.ElementCount, view.ByteLength, fileOf[view.Name]));
            if (SparseTensorCodec.IsPartOf(view.Name, metadata, out _, out bool values))
            {
                storedValues += values ? view.ElementCount : 0;
            }
            else
            {
                parameters += view.ElementCount;
            }
            bytes += view.ByteLength;
            byDType.TryGetValue(view.DType, out DTypeTotals t);
            byDType[view.DType] = new DTypeTotals(t.Tensors + 1, t.Elements + view.ElementCount, t.Bytes + view.ByteLength);
        }
        int sparseWeights = 0;
        foreach (string name in SparseTensorCodec.SparseNames(metadata))
        {
            var (rows, cols) = SparseTensorCodec.DenseShape(name, metadata);
            parameters += (long)rows * cols;
            sparseWeights++;
        }
        return new CheckpointSummary(tensors, parameters, bytes, byDType, metadata, sparseWeights, storedValues);
    }
}
