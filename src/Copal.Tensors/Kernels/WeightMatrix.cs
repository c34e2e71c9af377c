namespace Copal.Tensors.Kernels;

/// <summary>
/// A row-major weight matrix [Rows = out, Cols = in] in its stored dtype (F32, F16 or BF16), addressed by pointer
/// so that matrices over 2 GiB and memory-mapped checkpoints need no copy. The memory belongs to the caller.
/// </summary>
public readonly unsafe struct WeightMatrix
{
    /// <summary>Wraps <paramref name="data"/>; throws when the dtype is not a weight float or a dimension is negative.</summary>
    public WeightMatrix(void* data, DType dtype, int rows, int cols)
    {
        if (!dtype.IsWeightFloat())
        {
            throw new ArgumentException($"weight dtype must be F32, F16 or BF16, got {dtype}", nameof(dtype));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        Data = (byte*)data;
        DType = dtype;
        Rows = rows;
        Cols = cols;
    }

    /// <summary>Views a 2-D tensor [out, in] without copying.</summary>
    public static WeightMatrix FromView(in TensorView view)
    {
        if (view.Rank != 2)
        {
            throw new ArgumentException($"tensor '{view.Name}' has shape {view.ShapeString}, expected a 2-D weight [out, in]", nameof(view));
        }
        if (!view.DType.IsWeightFloat())
        {
            throw new ArgumentException($"tensor '{view.Name}' has dtype {view.DType}, expected F32, F16 or BF16", nameof(view));
        }
        return new WeightMatrix(view.Data, view.DType, checked((int)view.Shape[0]), checked((int)view.Shape[1]));
    }

    public byte* Data { get; }
    public DType DType { get; }
    public int Rows { get; }
    public int Cols { get; }

    /// <summary>Bytes of one stored element.</summary>
    public int ElementSize => DType == DType.F32 ? 4 : 2;

    /// <summary>Address of row <paramref name="row"/>.</summary>
    public byte* Row(int row) => Data + (long)row * Cols * ElementSize;

    /// <summary>Stored bytes of the whole matrix.</summary>
    public long ByteLength => (long)Rows * Cols * ElementSize;
}
