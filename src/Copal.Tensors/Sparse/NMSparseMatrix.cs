using System.Numerics;

namespace Copal.Tensors.Sparse;

/// <summary>
/// N:M semi-structured sparsity (2:4, 4:8, any N &lt; M ≤ 16): per row, per group of M columns, exactly N stored
/// values in column order (zeros kept when a group has fewer than N nonzeros), and for each stored value its
/// in-group column as a ⌈log2 M⌉-bit field. The fields of a row form one little-endian bit stream (value k at bits
/// k·Bits .. k·Bits + Bits − 1), padded to a whole byte per row; for 2:4 that is one nibble per group.
/// </summary>
public sealed unsafe class NMSparseMatrix : SparseMatrix
{
    private readonly NativeBlock _values;
    private readonly NativeBlock _index;

    private NMSparseMatrix(string name, DType dtype, int rows, int cols, int n, int m, NativeBlock values, NativeBlock index)
        : base(name, dtype, rows, cols)
    {
        N = n;
        M = m;
        _values = values;
        _index = index;
    }

    /// <summary>Stored values per group.</summary>
    public int N { get; }

    /// <summary>Group width in columns.</summary>
    public int M { get; }

    /// <summary>Bits of one in-group index: ⌈log2 M⌉.</summary>
    public int Bits => IndexBits(M);

    public int ValuesPerRow => Cols / M * N;

    /// <summary>Bytes of one row's packed indices.</summary>
    public int IndexStride => IndexStrideOf(Cols, N, M);

    public override SparseFormat Format => SparseFormat.NM;

    public override long StoredValues => (long)Rows * ValuesPerRow;

    public override long CompressedBytes => _values.Length + _index.Length;

    /// <summary>Stored values [Rows, ValuesPerRow] as raw bytes of the stored dtype.</summary>
    public ReadOnlySpan<byte> ValueBytes => _values.Span;

    /// <summary>Packed indices [Rows, IndexStride].</summary>
    public ReadOnlySpan<byte> Index => _index.Span;

    internal NativeBlock ValuesBlock => _values;
    internal NativeBlock IndexBlock => _index;

    internal static int IndexBits(int m) => 32 - BitOperations.LeadingZeroCount((uint)(m - 1));

    internal static int IndexStrideOf(int cols, int n, int m) => (int)(((long)cols / m * n * IndexBits(m) + 7) / 8);

    internal static void CheckPattern(string name, int cols, int n, int m)
    {
        if (m < 2 || m > 16 || n < 1 || n >= m)
        {
            throw new SparseFormatException(name, $"pattern {n}:{m} is not supported; need 1 ≤ N < M ≤ 16");
        }
        if (cols % m != 0)
        {
            throw new SparseFormatException(name, $"{cols} columns are not a multiple of M = {m}");
        }
    }

    internal override byte* RowValues(int row, out int count)
    {
        count = ValuesPerRow;
        return _values.Data + (long)row * count * ValueSize;
    }

    internal override byte* ValuesEnd => _values.Data + _values.Length;

    internal override byte* RowMask(int row, byte* scratch)
    {
        byte* idx = _index.Data + (long)row * IndexStride;
        int stride = MaskStride;
        if (N == 2 && M == 4)
        {
            // One index byte holds two groups of 2:4 = eight columns = one mask byte.
            byte* lut = SparseLuts.MaskOf24;
            for (int i = 0; i < stride; i++)
            {
                scratch[i] = lut[idx[i]];
            }
            if ((Cols & 7) != 0)
            {
                // An odd group count leaves the last byte's high nibble as padding, which the table reads as a group.
                scratch[stride - 1] &= (byte)((1 << (Cols & 7)) - 1);
            }
            return scratch;
        }
        new Span<byte>(scratch, stride).Clear();
        int bits = Bits, fieldMask = (1 << bits) - 1, groups = Cols / M, indexStride = IndexStride;
        long bitPos = 0;
        for (int g = 0; g < groups; g++)
        {
            int baseCol = g * M;
            for (int j = 0; j < N; j++, bitPos += bits)
            {
                int b = (int)(bitPos >> 3);
                uint word = idx[b];
                if (b + 1 < indexStride)
                {
                    word |= (uint)idx[b + 1] << 8;
                }
                int c = baseCol + (int)((word >> (int)(bitPos & 7)) & (uint)fieldMask);
                scratch[c >> 3] |= (byte)(1 << (c & 7));
            }
        }
        return scratch;
    }

    /// <summary>Compresses a dense F32 matrix that already satisfies N:M; throws naming the first violating group.</summary>
    public static NMSparseMatrix FromDense(string name, ReadOnlySpan<float> dense, int rows, int cols, int n, int m)
    {
        fixed (float* p = dense)
        {
            return From(new DenseSource(name, DType.F32, (byte*)p, (long)dense.Length * 4, rows, cols), n, m);
        }
    }

    /// <summary>Compresses a dense BF16 matrix (raw bits) that already satisfies N:M.</summary>
    public static NMSparseMatrix FromDenseBf16(string name, ReadOnlySpan<ushort> dense, int rows, int cols, int n, int m)
    {
        fixed (ushort* p = dense)
        {
            return From(new DenseSource(name, DType.BF16, (byte*)p, (long)dense.Length * 2, rows, cols), n, m);
        }
    }

    /// <summary>Compresses a dense 2-D F32 or BF16 tensor that already satisfies N:M.</summary>
    public static NMSparseMatrix FromTensor(TensorView view, int n, int m)
    {
        var (rows, cols) = DenseSource.MatrixShape(view);
        return From(new DenseSource(view.Name, view.DType, view.Data, view.ByteLength, rows, cols), n, m);
    }

    /// <summary>True when every group of <paramref name="m"/> columns of every row has at most <paramref name="n"/> nonzeros.</summary>
    internal static bool IsValid(DenseSource src, int n, int m)
    {
        if (src.Cols % m != 0)
        {
            return false;
        }
        for (int r = 0; r < src.Rows; r++)
        {
            for (int g = 0; g < src.Cols; g += m)
            {
                int nz = 0;
                for (int j = 0; j < m; j++)
                {
                    nz += src.IsZero(r, g + j) ? 0 : 1;
                }
                if (nz > n)
                {
                    return false;
                }
            }
        }
        return true;
    }

    private static NMSparseMatrix From(DenseSource src, int n, int m)
    {
        CheckPattern(src.Name, src.Cols, n, m);
        int es = src.ElementSize, bits = IndexBits(m), perRow = src.Cols / m * n, stride = IndexStrideOf(src.Cols, n, m);
        var values = NativeBlock.Allocate((long)src.Rows * perRow * es);
        var index = NativeBlock.Allocate((long)src.Rows * stride);
        Span<int> kept = stackalloc int[16];
        try
        {
            for (int r = 0; r < src.Rows; r++)
            {
                byte* v = values.Data + (long)r * perRow * es;
                byte* idx = index.Data + (long)r * stride;
                long bitPos = 0;
                for (int g = 0; g < src.Cols; g += m)
                {
                    int nz = 0;
                    for (int j = 0; j < m; j++)
                    {
                        nz += src.IsZero(r, g + j) ? 0 : 1;
                    }
                    if (nz > n)
                    {
                        throw new SparseFormatException(src.Name,
                            $"row {r}, group {g / m} (columns {g}..{g + m - 1}) has {nz} nonzeros; {n}:{m} allows at most {n}");
                    }
                    // Keep every nonzero, then pad with the leftmost zeros so the N indices stay increasing.
                    int fill = n - nz, k = 0;
                    for (int j = 0; j < m; j++)
                    {
                        bool zero = src.IsZero(r, g + j);
                        if (!zero || fill > 0)
                        {
                            if (zero)
                            {
                                fill--;
                            }
                            kept[k++] = j;
                        }
                    }
                    for (int j = 0; j < n; j++, bitPos += bits)
                    {
                        Buffer.MemoryCopy(src.Element(r, g + kept[j]), v, es, es);
                        v += es;
                        uint field = (uint)kept[j] << (int)(bitPos & 7);
                        idx[bitPos >> 3] |= (byte)field;
                        if (field > 0xFF)
                        {
                            idx[(bitPos >> 3) + 1] |= (byte)(field >> 8);
                        }
                    }
                }
            }
        }
        catch
        {
            values.Dispose();
            index.Dispose();
            throw;
        }
        return new NMSparseMatrix(src.Name, src.DType, src.Rows, src.Cols, n, m, values, index);
    }

    /// <summary>
    /// Wraps stored parts without copying after checking them: values [rows, cols/M·N] in <paramref name="dtype"/>,
    /// index U8 [rows, IndexStride] whose fields are &lt; M and strictly increasing within each group, padding bits zero.
    /// </summary>
    internal static NMSparseMatrix Wrap(string name, DType dtype, int rows, int cols, int n, int m, TensorView values, TensorView index)
    {
        CheckPattern(name, cols, n, m);
        int perRow = cols / m * n, stride = IndexStrideOf(cols, n, m), bits = IndexBits(m);
        SparseChecks.Expect(name, values, dtype, rows, perRow);
        SparseChecks.Expect(name, index, DType.U8, rows, stride);
        uint fieldMask = (1u << bits) - 1;
        for (int r = 0; r < rows; r++)
        {
            byte* idx = index.Data + (long)r * stride;
            long bitPos = 0;
            for (int g = 0; g < cols / m; g++)
            {
                int previous = -1;
                for (int j = 0; j < n; j++, bitPos += bits)
                {
                    int b = (int)(bitPos >> 3);
                    uint word = idx[b] | (b + 1 < stride ? (uint)idx[b + 1] << 8 : 0u);
                    int field = (int)((word >> (int)(bitPos & 7)) & fieldMask);
                    if (field >= m || field <= previous)
                    {
                        throw new SparseFormatException(name,
                            $"'{index.Name}' row {r}, group {g}: index {field} after {previous}; indices must be < {m} and strictly increasing");
                    }
                    previous = field;
                }
            }
            if ((bitPos & 7) != 0 && (idx[stride - 1] >> (int)(bitPos & 7)) != 0)
            {
                throw new SparseFormatException(name, $"'{index.Name}' row {r} has nonzero padding bits");
            }
        }
        return new NMSparseMatrix(name, dtype, rows, cols, n, m, NativeBlock.Borrow(values), NativeBlock.Borrow(index));
    }

    /// <summary>
    /// Wraps stored values without copying together with indices stored as pattern ranks (<see cref="NMRankCode"/>),
    /// which are decoded (and thereby checked) into owned bit fields.
    /// </summary>
    internal static NMSparseMatrix WrapRanked(string name, DType dtype, int rows, int cols, int n, int m, TensorView values, TensorView ranks)
    {
        CheckPattern(name, cols, n, m);
        NMRankCode code = NMRankCode.For(n, m, cols)
            ?? throw new SparseFormatException(name, $"index=rank is not defined for {n}:{m} with {cols} columns (it would not be smaller than index=fields)");
        SparseChecks.Expect(name, values, dtype, rows, cols / m * n);
        SparseChecks.Expect(name, ranks, DType.U8, rows, code.Stride(cols));
        NativeBlock index = code.Decode(name, ranks, rows, cols);
        return new NMSparseMatrix(name, dtype, rows, cols, n, m, NativeBlock.Borrow(values), index);
    }

    protected override void Release()
    {
        _values.Dispose();
        _index.Dispose();
    }
}
