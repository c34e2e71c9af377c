using System.Runtime.InteropServices;
using Copal.Tensors.Kernels;
using Copal.Tensors.Numerics;

namespace Copal.Tensors.Sparse;

/// <summary>
/// A compressed weight matrix [Rows = out, Cols = in] whose values keep the dense weight's stored dtype (F32, BF16
/// or F16).
/// Every format exposes, per row, the positions of its stored values as a bitmask and the values packed in column
/// order; the kernels read that common shape. Owns or borrows its memory; dispose it when done.
/// </summary>
public abstract unsafe class SparseMatrix : IDisposable
{
    private protected SparseMatrix(string name, DType dtype, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!HoldsValuesOf(dtype))
        {
            throw new SparseFormatException(name, $"sparse values must be F32, BF16 or F16, got {dtype}");
        }
        if (rows <= 0 || cols <= 0)
        {
            throw new SparseFormatException(name, FormattableString.Invariant($"shape [{rows}, {cols}] must be positive"));
        }
        Name = name;
        DType = dtype;
        Rows = rows;
        Cols = cols;
    }

    /// <summary>Whether the compact formats store values of <paramref name="dtype"/>: F32, BF16 and F16.</summary>
    public static bool HoldsValuesOf(DType dtype) => dtype is DType.F32 or DType.BF16 or DType.F16;

    /// <summary>
    /// Whether every stored value was checked finite (<see cref="TensorView.FiniteVerified"/> of the dense tensor or
    /// of the stored values part): F16 is then converted without the Inf/NaN handling, as the dense F16 kernels do.
    /// </summary>
    public bool FiniteVerified { get; internal init; }

    /// <summary>The dense tensor's name (for example <c>model.layers.0.mlp.up_proj.weight</c>).</summary>
    public string Name { get; }

    /// <summary>The dtype of the stored values (that of the dense weight).</summary>
    public DType DType { get; }

    /// <summary>Output features.</summary>
    public int Rows { get; }

    /// <summary>Input features.</summary>
    public int Cols { get; }

    /// <summary>The storage format: <see cref="SparseFormat.NM"/> or <see cref="SparseFormat.Bitmask"/>.</summary>
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

    /// <summary>Writes the dense matrix [Rows, Cols] as f32 (the values exactly, BF16 and F16 widened).</summary>
    public void ToDense(Span<float> destination)
    {
        long count = (long)Rows * Cols;
        if (destination.Length != count)
        {
            throw new ArgumentException($"tensor '{Name}': dense destination has {destination.Length} elements, expected {count}", nameof(destination));
        }
        if (DType == DType.F32)
        {
            ToDenseRaw(MemoryMarshal.AsBytes(destination));
            return;
        }
        ushort[] bits = new ushort[count];
        ToDenseRaw(MemoryMarshal.AsBytes(bits.AsSpan()));
        if (DType == DType.F16)
        {
            FloatConvert.ToSingle(MemoryMarshal.Cast<ushort, Half>(bits), destination);
            return;
        }
        FloatConvert.ToSingle(bits, destination);
    }

    /// <summary>
    /// Writes the dense matrix [Rows, Cols] in the stored dtype (raw little-endian bytes), for densify and for
    /// loading a compact checkpoint dense. Rows run in parallel.
    /// </summary>
    public void ToDenseRaw(Span<byte> destination)
    {
        long bytes = (long)Rows * Cols * ValueSize;
        if (destination.Length != bytes)
        {
            throw new ArgumentException($"tensor '{Name}': dense destination has {destination.Length} bytes, expected {bytes}", nameof(destination));
        }
        destination.Clear();
        fixed (byte* dst = destination)
        {
            nint at = (nint)dst;
            ForEachRow((row, mask, values) =>
            {
                byte* to = (byte*)at + ((long)row * Cols * ValueSize);
                if (DType == DType.F32)
                {
                    Scatter(mask, MaskStride, (uint*)values, (uint*)to);
                }
                else
                {
                    Scatter(mask, MaskStride, (ushort*)values, (ushort*)to);
                }
            });
        }
    }

    private delegate void RowAction(int row, byte* mask, byte* values);

    /// <summary>Runs <paramref name="body"/> on every row with its mask and values, ranges of rows on the kernels' threads.</summary>
    private void ForEachRow(RowAction body) =>
        RowPartition.For(Rows, threads: 0, align: 1, Math.Max(1, NonzeroMask.MinElementsPerThread / Cols), (start, end) =>
        {
            fixed (byte* scratch = new byte[MaskStride])
            {
                for (int r = start; r < end; r++)
                {
                    body(r, RowMask(r, scratch), RowValues(r, out _));
                }
            }
        });

    /// <summary>
    /// Puts the row's packed values at the columns whose mask bits are set. The mask may be the stored one, so no
    /// read goes past its <paramref name="stride"/> bytes (its padding bits are zero).
    /// </summary>
    private static void Scatter<T>(byte* mask, int stride, T* values, T* row) where T : unmanaged
    {
        int b = 0;
        for (; b + 8 <= stride; b += 8)
        {
            for (ulong bits = System.Runtime.CompilerServices.Unsafe.ReadUnaligned<ulong>(mask + b); bits != 0; bits &= bits - 1)
            {
                row[(b * 8) + System.Numerics.BitOperations.TrailingZeroCount(bits)] = *values++;
            }
        }
        for (; b < stride; b++)
        {
            for (uint bits = mask[b]; bits != 0; bits &= bits - 1)
            {
                row[(b * 8) + System.Numerics.BitOperations.TrailingZeroCount(bits)] = *values++;
            }
        }
    }

    /// <summary>Frees the memory the matrix owns (borrowed memory stays its owner's); the matrix must not be used after.</summary>
    public void Dispose()
    {
        Release();
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees owned memory; borrowed memory is left to its owner.</summary>
    protected abstract void Release();

    /// <summary>Name, format, dtype, shape and bytes per weight, e.g. "w Bitmask BF16 [64, 172] 1.125 B/weight".</summary>
    public override string ToString() => FormattableString.Invariant($"{Name} {Format} {DType} [{Rows}, {Cols}] {BytesPerWeight:F3} B/weight");
}
