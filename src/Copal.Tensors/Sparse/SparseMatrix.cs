namespace Copal.Tensors.Sparse;

/// <summary>
/// A compressed weight matrix [Rows = out, Cols = in] whose values keep the dense weight's stored dtype (F32 or BF16).
/// Every format exposes, per row, the positions of its stored values as a bitmask and the values packed in column
/// order; the kernels read that common shape. Owns or borrows its memory; dispose it when done.
/// </summary>
public abstract unsafe class SparseMatrix : IDisposable
{
    private protected SparseMatrix(string name, DType dtype, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (dtype is not (DType.F32 or DType.BF16))
        {
            throw new SparseFormatException(name, $"sparse values must be F32 or BF16, got {dtype}");
        }
        if (rows <= 0 || cols <= 0)
        {
            throw new SparseFormatException(name, $"shape [{rows}, {cols}] must be positive");
        }
        Name = name;
        DType = dtype;
        Rows = rows;
        Cols = cols;
    }

    /// <summary>The dense tensor's name (for example <c>model.layers.0.mlp.up_proj.weight</c>).</summary>
    public string Name { get; }

    /// <summary>The dtype of the stored values (that of the dense weight).</summary>
    public DType DType { get; }

    /// <summary>Output features.</summary>
    public int Rows { get; }

    /// <summary>Input features.</summary>
    public int Cols { get; }

    public abstract SparseFormat Format { get; }

    /// <summary>Bytes the kernels stream per product: values plus index metadata.</summary>
    public abstract long CompressedBytes { get; }

    /// <summary>Compressed bytes per dense weight (dense BF16 is 2, dense F32 is 4).</summary>
    public double BytesPerWeight => CompressedBytes / ((double)Rows * Cols);

    /// <summary>Number of stored values (kept zeros of an N:M group included).</summary>
    public abstract long StoredValues { get; }

    /// <summary>Bytes of one row's bitmask: ⌈Cols / 8⌉.</summary>
    public int MaskStride => (Cols + 7) >> 3;

    internal int ValueSize => DType.SizeOf();

    /// <summary>
    /// The row's bitmask (bit c of byte c/8 set where column c holds a stored value). Formats that store it return
    /// their own bytes; others decode into <paramref name="scratch"/> (at least <see cref="MaskStride"/> bytes).
    /// </summary>
    internal abstract byte* RowMask(int row, byte* scratch);

    /// <summary>The row's stored values in column order and how many there are.</summary>
    internal abstract byte* RowValues(int row, out int count);

    /// <summary>One past the last value byte: kernels that load 8 values at once must not read beyond it.</summary>
    internal abstract byte* ValuesEnd { get; }

    /// <summary>Writes the dense matrix [Rows, Cols] as f32 (the values exactly, BF16 widened).</summary>
    public void ToDense(Span<float> destination)
    {
        long count = (long)Rows * Cols;
        if (destination.Length != count)
        {
            throw new ArgumentException($"tensor '{Name}': dense destination has {destination.Length} elements, expected {count}", nameof(destination));
        }
        destination.Clear();
        byte[] maskScratch = new byte[MaskStride];
        fixed (byte* ms = maskScratch)
        {
            for (int r = 0; r < Rows; r++)
            {
                byte* mask = RowMask(r, ms);
                byte* values = RowValues(r, out _);
                Span<float> row = destination.Slice(r * Cols, Cols);
                int k = 0;
                for (int c = 0; c < Cols; c++)
                {
                    if ((mask[c >> 3] >> (c & 7) & 1) != 0)
                    {
                        row[c] = DType == DType.F32 ? ((float*)values)[k] : Bf16.ToFloat(((ushort*)values)[k]);
                        k++;
                    }
                }
            }
        }
    }

    /// <summary>Writes the dense matrix [Rows, Cols] in the stored dtype (raw little-endian bytes), for densify.</summary>
    public void ToDenseRaw(Span<byte> destination)
    {
        long bytes = (long)Rows * Cols * ValueSize;
        if (destination.Length != bytes)
        {
            throw new ArgumentException($"tensor '{Name}': dense destination has {destination.Length} bytes, expected {bytes}", nameof(destination));
        }
        destination.Clear();
        byte[] maskScratch = new byte[MaskStride];
        int es = ValueSize;
        fixed (byte* ms = maskScratch)
        fixed (byte* dst = destination)
        {
            for (int r = 0; r < Rows; r++)
            {
                byte* mask = RowMask(r, ms);
                byte* values = RowValues(r, out _);
                byte* row = dst + (long)r * Cols * es;
                int k = 0;
                for (int c = 0; c < Cols; c++)
                {
                    if ((mask[c >> 3] >> (c & 7) & 1) != 0)
                    {
                        Buffer.MemoryCopy(values + (long)k * es, row + (long)c * es, es, es);
                        k++;
                    }
                }
            }
        }
    }

    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees owned memory; borrowed memory is left to its owner.</summary>
    protected abstract void Release();

    public override string ToString() => $"{Name} {Format} {DType} [{Rows}, {Cols}] {BytesPerWeight:F3} B/weight";
}
