using System.Numerics;
using System.Runtime.CompilerServices;

namespace Copal.Tensors.Sparse;

/// <summary>
/// Unstructured sparsity: a bitmask [Rows, ⌈Cols/8⌉] (bit c%8 of byte c/8 marks a nonzero in column c), the nonzero
/// values packed in row-major order, and per-row offsets [Rows + 1] into them. Chosen over blocked CSR because it
/// is smaller (1/8 byte per weight of index instead of 1 per nonzero) and its 8-column LUT expand measured faster
/// at 50% and 70% sparsity (docs/sparse-formats.md).
/// </summary>
public sealed unsafe class BitmaskSparseMatrix : SparseMatrix
{
    private readonly NativeBlock _mask;
    private readonly NativeBlock _values;
    private readonly NativeBlock _offsets;

    private BitmaskSparseMatrix(string name, DType dtype, int rows, int cols, NativeBlock mask, NativeBlock values, NativeBlock offsets)
        : base(name, dtype, rows, cols)
    {
        _mask = mask;
        _values = values;
        _offsets = offsets;
    }

    /// <summary><see cref="SparseFormat.Bitmask"/>.</summary>
    public override SparseFormat Format => SparseFormat.Bitmask;

    /// <summary>The nonzeros stored.</summary>
    public override long StoredValues => _values.Length / ValueSize;

    /// <summary>Bytes of the bitmask, the values and the row offsets.</summary>
    public override long CompressedBytes => _mask.Length + _values.Length + _offsets.Length;

    /// <summary>The bitmask bytes [Rows, MaskStride].</summary>
    public ReadOnlySpan<byte> Mask => _mask.Span;

    /// <summary>The packed nonzero values as raw bytes of the stored dtype.</summary>
    public ReadOnlySpan<byte> ValueBytes => _values.Span;

    /// <summary>Row r's values are elements Offsets[r] .. Offsets[r + 1] of the packed values.</summary>
    public ReadOnlySpan<long> Offsets => _offsets.AsSpan<long>();

    internal NativeBlock MaskBlock => _mask;
    internal NativeBlock ValuesBlock => _values;
    internal NativeBlock OffsetsBlock => _offsets;

    internal override byte* RowMask(int row, byte* scratch) => _mask.Data + (long)row * MaskStride;

    internal override byte* RowValues(int row, out int count)
    {
        long* off = (long*)_offsets.Data;
        count = (int)(off[row + 1] - off[row]);
        return _values.Data + off[row] * ValueSize;
    }

    internal override byte* ValuesEnd => _values.Data + _values.Length;

    /// <summary>Compresses a dense F32 matrix [rows, cols] (row-major).</summary>
    public static BitmaskSparseMatrix FromDense(string name, ReadOnlySpan<float> dense, int rows, int cols)
    {
        fixed (float* p = dense)
        {
            return From(new DenseSource(name, DType.F32, (byte*)p, (long)dense.Length * 4, rows, cols));
        }
    }

    /// <summary>Compresses a dense BF16 matrix [rows, cols] given as raw bf16 bits.</summary>
    public static BitmaskSparseMatrix FromDenseBf16(string name, ReadOnlySpan<ushort> dense, int rows, int cols)
    {
        fixed (ushort* p = dense)
        {
            return From(new DenseSource(name, DType.BF16, (byte*)p, (long)dense.Length * 2, rows, cols));
        }
    }

    /// <summary>Compresses a dense F16 matrix [rows, cols] given as raw half bits.</summary>
    public static BitmaskSparseMatrix FromDenseF16(string name, ReadOnlySpan<ushort> dense, int rows, int cols)
    {
        fixed (ushort* p = dense)
        {
            return From(new DenseSource(name, DType.F16, (byte*)p, (long)dense.Length * 2, rows, cols));
        }
    }

    /// <summary>Compresses a dense 2-D F32, BF16 or F16 tensor.</summary>
    public static BitmaskSparseMatrix FromTensor(TensorView view)
    {
        var (rows, cols) = DenseSource.MatrixShape(view);
        return From(new DenseSource(view.Name, view.DType, view.Data, view.ByteLength, rows, cols) { FiniteVerified = view.FiniteVerified });
    }

    /// <summary>
    /// Two parallel passes over the rows: the masks and their counts, then (after the offsets are summed) the values.
    /// The second pass rebuilds each row's mask rather than reading the stored one, which has no zero bytes after it.
    /// </summary>
    private static BitmaskSparseMatrix From(DenseSource src)
    {
        int stride = NonzeroMask.Stride(src.Cols);
        var mask = NativeBlock.Allocate((long)src.Rows * stride);
        var offsets = NativeBlock.Allocate(((long)src.Rows + 1) * sizeof(long));
        long* off = (long*)offsets.Data;
        NonzeroMask.ForEachRow(src, (r, rowMask) =>
        {
            Buffer.MemoryCopy(rowMask, mask.Data + ((long)r * stride), stride, stride);
            off[r + 1] = NonzeroMask.Count(rowMask, stride);
        });
        for (int r = 0; r < src.Rows; r++)
        {
            off[r + 1] += off[r];
        }
        int es = src.ElementSize;
        var values = NativeBlock.Allocate(off[src.Rows] * es);
        NonzeroMask.ForEachRow(src, (r, rowMask) =>
        {
            byte* row = src.Data + ((long)r * src.Cols * es);
            if (es == 2)
            {
                Gather((ushort*)row, rowMask, stride, (ushort*)values.Data + off[r]);
            }
            else
            {
                Gather((uint*)row, rowMask, stride, (uint*)values.Data + off[r]);
            }
        });
        return new BitmaskSparseMatrix(src.Name, src.DType, src.Rows, src.Cols, mask, values, offsets) { FiniteVerified = src.FiniteVerified };
    }

    /// <summary>Copies the row's elements whose mask bits are set, in column order.</summary>
    private static void Gather<T>(T* row, byte* mask, int stride, T* values) where T : unmanaged
    {
        for (int b = 0; b < stride; b += 8)
        {
            ulong bits = Unsafe.ReadUnaligned<ulong>(mask + b);
            while (bits != 0)
            {
                *values++ = row[b * 8 + BitOperations.TrailingZeroCount(bits)];
                bits &= bits - 1;
            }
        }
    }

    /// <summary>
    /// Wraps stored parts without copying after checking them: mask [rows, ⌈cols/8⌉] U8 with zero padding bits,
    /// offsets [rows + 1] I64 starting at 0 and matching each row's popcount, values [nnz] in <paramref name="dtype"/>.
    /// </summary>
    internal static BitmaskSparseMatrix Wrap(string name, DType dtype, int rows, int cols, TensorView mask, TensorView values, TensorView offsets)
    {
        // In long: cols + 7 overflows for a metadata entry that claims 2^31 - 1 columns.
        int stride = (int)(((long)cols + 7) >> 3);
        SparseChecks.Expect(name, mask, DType.U8, rows, stride);
        SparseChecks.Expect(name, offsets, DType.I64, rows + 1L);
        var off = offsets.AsSpan<long>();
        byte* m = mask.Data;
        byte padMask = (cols & 7) == 0 ? (byte)0 : (byte)(0xFF << (cols & 7));
        if (off[0] != 0)
        {
            throw new SparseFormatException(name, $"'{offsets.Name}'[0] is {off[0]}, expected 0");
        }
        for (int r = 0; r < rows; r++)
        {
            byte* row = m + (long)r * stride;
            long count = 0;
            int i = 0;
            for (; i + 8 <= stride; i += 8)
            {
                count += BitOperations.PopCount(*(ulong*)(row + i));
            }
            for (; i < stride; i++)
            {
                count += BitOperations.PopCount(row[i]);
            }
            if ((row[stride - 1] & padMask) != 0)
            {
                throw new SparseFormatException(name, $"'{mask.Name}' row {r} sets bits beyond column {cols - 1}");
            }
            if (off[r + 1] - off[r] != count)
            {
                throw new SparseFormatException(name, $"'{offsets.Name}' gives row {r} {off[r + 1] - off[r]} values, its mask has {count}");
            }
        }
        SparseChecks.Expect(name, values, dtype, off[rows]);
        return new BitmaskSparseMatrix(name, dtype, rows, cols, NativeBlock.Borrow(mask), NativeBlock.Borrow(values), NativeBlock.Borrow(offsets)) { FiniteVerified = values.FiniteVerified };
    }

    /// <inheritdoc/>
    protected override void Release()
    {
        _mask.Dispose();
        _values.Dispose();
        _offsets.Dispose();
    }
}
