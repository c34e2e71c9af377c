namespace Copal.Tensors.Safetensors;

/// <summary>One tensor of a checkpoint as <c>copal inspect</c> lists it.</summary>
public sealed record TensorSummary(string Name, DType DType, long[] Shape, long ElementCount, long ByteLength, string File)
{
    public string ShapeString => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>Parameters and bytes of one dtype across a checkpoint.</summary>
public readonly record struct DTypeTotals(int Tensors, long Parameters, long Bytes);

/// <summary>
/// What a checkpoint holds: every tensor (name, dtype, shape, file), the total parameter count (sum of element
/// counts) and bytes, and those totals per dtype.
/// </summary>
public sealed record CheckpointSummary(
    IReadOnlyList<TensorSummary> Tensors,
    long ParameterCount,
    long ByteCount,
    IReadOnlyDictionary<DType, DTypeTotals> ByDType,
    IReadOnlyDictionary<string, string> Metadata)
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
        foreach (TensorView view in checkpoint.Tensors)
        {
            tensors.Add(new TensorSummary(view.Name, view.DType, view.Shape, view.ElementCount, view.ByteLength, fileOf[view.Name]));
            parameters += view.ElementCount;
            bytes += view.ByteLength;
            byDType.TryGetValue(view.DType, out DTypeTotals t);
            byDType[view.DType] = new DTypeTotals(t.Tensors + 1, t.Parameters + view.ElementCount, t.Bytes + view.ByteLength);
        }
        return new CheckpointSummary(tensors, parameters, bytes, byDType, checkpoint.Metadata);
    }
}
