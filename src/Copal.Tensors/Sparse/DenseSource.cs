namespace Copal.Tensors.Sparse;

/// <summary>A dense row-major matrix in F32, BF16 or F16 being converted: checked once here, read by pointer after.</summary>
internal readonly unsafe struct DenseSource
{
    public DenseSource(string name, DType dtype, byte* data, long byteLength, int rows, int cols)
    {
        if (!SparseMatrix.HoldsValuesOf(dtype))
        {
            throw new SparseFormatException(name, $"sparse conversion needs F32, BF16 or F16 values, got {dtype}");
        }
        if (rows <= 0 || cols <= 0)
        {
            throw new SparseFormatException(name, FormattableString.Invariant($"shape [{rows}, {cols}] must be positive"));
        }
        long expected = (long)rows * cols * dtype.SizeOf();
        if (byteLength != expected)
        {
            throw new SparseFormatException(name, FormattableString.Invariant($"dense [{rows}, {cols}] {dtype} needs {expected} bytes, got {byteLength}"));
        }
        Name = name;
        DType = dtype;
        Data = data;
        Rows = rows;
        Cols = cols;
    }

    public string Name { get; }
    public DType DType { get; }
    public byte* Data { get; }
    public int Rows { get; }
    public int Cols { get; }
    public int ElementSize => DType.SizeOf();

    /// <summary>Whether the values were checked finite; the matrix made from them keeps it (<see cref="SparseMatrix.FiniteVerified"/>).</summary>
    public bool FiniteVerified { get; init; }

    public bool IsZero(int row, int col)
    {
        long i = (long)row * Cols + col;
        // BF16 and F16 alike: ±0 is every bit but the sign clear.
        return DType == DType.F32 ? ((float*)Data)[i] == 0f : Bf16.IsZero(((ushort*)Data)[i]);
    }

    /// <summary>The 2-D shape of a tensor view as (rows, cols), or a typed error naming it.</summary>
    public static (int Rows, int Cols) MatrixShape(TensorView view)
    {
        if (view.Rank != 2 || view.Shape[0] > int.MaxValue || view.Shape[1] > int.MaxValue)
        {
            throw new SparseFormatException(view.Name, $"expected a 2-D matrix, got shape {view.ShapeString}");
        }
        return ((int)view.Shape[0], (int)view.Shape[1]);
    }
}
