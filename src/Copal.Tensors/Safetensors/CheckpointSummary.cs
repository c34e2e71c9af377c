using Copal.Tensors.Sparse;

namespace Copal.Tensors.Safetensors;

/// <summary>One tensor of a checkpoint as <c>copal inspect</c> lists it.</summary>
public sealed record TensorSummary(string Name, DType DType, long[] Shape, long ElementCount, long ByteLength, string File)
{
    public string ShapeString => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>Tensors, stored elements and bytes of one dtype across a checkpoint (a compact weight's parts as stored).</summary>
public readonly record struct DTypeTotals(int Tensors, long Elements, long Bytes);

/// <summary>
/// What a checkpoint holds: every tensor (name, dtype, shape, file), the model's parameter count, the bytes, and the
/// stored elements and bytes per dtype. A compact checkpoint's sparse weight (<c>copal.sparse.*</c>) counts its
/// dense shape's parameters, not the elements of its stored parts (values, indices, masks, offsets): a model pruned
/// and compacted has as many parameters as before, <see cref="SparseWeights"/> of them stored as
/// <see cref="SparseStoredValues"/> values.
/// </summary>
public sealed record CheckpointSummary(
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
        foreach (TensorView view in checkpoint.Tensors)
        {
            tensors.Add(new TensorSummary(view.Name, view.DType, view.Shape, view.ElementCount, view.ByteLength, fileOf[view.Name]));
            if (SparseTensorCodec.IsPartOf(view.Name, checkpoint.Metadata, out _, out bool values))
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
        foreach (string name in SparseTensorCodec.SparseNames(checkpoint.Metadata))
        {
            var (rows, cols) = SparseTensorCodec.DenseShape(name, checkpoint.Metadata);
            parameters += (long)rows * cols;
            sparseWeights++;
        }
        return new CheckpointSummary(tensors, parameters, bytes, byDType, checkpoint.Metadata, sparseWeights, storedValues);
    }
}
