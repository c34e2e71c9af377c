using System.Numerics;
using System.Runtime.CompilerServices;

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

    /// <summary>Values stored per row, zeros kept in groups included: Cols / M · N.</summary>
    public int ValuesPerRow => Cols / M * N;

    /// <summary>Bytes of one row's packed indices.</summary>
    public int IndexStride => IndexStrideOf(Cols, N, M);

    /// <summary><see cref="SparseFormat.NM"/>.</summary>
    public override SparseFormat Format => SparseFormat.NM;

    /// <summary>Rows · <see cref="ValuesPerRow"/>, zeros kept in groups included.</summary>
    public override long StoredValues => (long)Rows * ValuesPerRow;

    /// <summary>Bytes of the values and the packed indices.</summary>
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

    /// <summary>Compresses a dense F16 matrix [rows, cols] given as raw half bits that already satisfies N:M.</summary>
    public static NMSparseMatrix FromDenseF16(string name, ReadOnlySpan<ushort> dense, int rows, int cols, int n, int m)
    {
        fixed (ushort* p = dense)
        {
            return From(new DenseSource(name, DType.F16, (byte*)p, (long)dense.Length * 2, rows, cols), n, m);
        }
    }

    /// <summary>Compresses a dense 2-D F32, BF16 or F16 tensor that already satisfies N:M.</summary>
    public static NMSparseMatrix FromTensor(TensorView view, int n, int m)
    {
        var (rows, cols) = DenseSource.MatrixShape(view);
        return From(new DenseSource(view.Name, view.DType, view.Data, view.ByteLength, rows, cols) { FiniteVerified = view.FiniteVerified }, n, m);
    }

    /// <summary>
    /// 2:4 by a group's nonzero nibble: its two kept columns as one index nibble (first | second &lt;&lt; 2), or
    /// <see cref="Breaks24"/> when the group has more than two nonzeros.
    /// </summary>
    private static readonly byte[] KeptOf24 = BuildKeptOf24();

    private const byte Breaks24 = 0xFF;

    private static NMSparseMatrix From(DenseSource src, int n, int m)
    {
        CheckPattern(src.Name, src.Cols, n, m);
        int es = src.ElementSize, perRow = src.Cols / m * n, stride = IndexStrideOf(src.Cols, n, m);
        var values = NativeBlock.Allocate((long)src.Rows * perRow * es);
        var index = NativeBlock.Allocate((long)src.Rows * stride);
        // Rows run in parallel; the first bad row (the lowest) is the one reported, so the error does not depend on
        // the schedule. Rows after a known bad one are skipped.
        int firstBad = int.MaxValue;
        NonzeroMask.ForEachRow(src, (r, mask) =>
        {
            if (r > Volatile.Read(ref firstBad))
            {
                return;
            }
            byte* v = values.Data + ((long)r * perRow * es);
            byte* idx = index.Data + ((long)r * stride);
            byte* row = src.Data + ((long)r * src.Cols * es);
            bool ok = n == 2 && m == 4
                ? (es == 2 ? Encode24<ushort>(row, mask, v, idx, src.Cols) : Encode24<uint>(row, mask, v, idx, src.Cols))
                : EncodeRow(row, mask, v, idx, src.Cols, n, m, es);
            if (!ok)
            {
                int seen;
                while (r < (seen = Volatile.Read(ref firstBad)) && Interlocked.CompareExchange(ref firstBad, r, seen) != seen)
                {
                }
            }
        });
        if (firstBad != int.MaxValue)
        {
            values.Dispose();
            index.Dispose();
            throw FirstBadGroup(src, firstBad, n, m);
        }
        return new NMSparseMatrix(src.Name, src.DType, src.Rows, src.Cols, n, m, values, index) { FiniteVerified = src.FiniteVerified };
    }

    /// <summary>2:4 of one row, a group at a time through <see cref="KeptOf24"/>; false when a group breaks 2:4.</summary>
    private static bool Encode24<T>(byte* row, byte* mask, byte* values, byte* index, int cols) where T : unmanaged
    {
        T* src = (T*)row, dst = (T*)values;
        int groups = cols / 4;
        for (int g = 0; g < groups; g++)
        {
            byte kept = KeptOf24[(mask[g >> 1] >> ((g & 1) << 2)) & 0xF];
            if (kept == Breaks24)
            {
                return false;
            }
            dst[2 * g] = src[(4 * g) + (kept & 3)];
            dst[(2 * g) + 1] = src[(4 * g) + (kept >> 2)];
            index[g >> 1] |= (byte)(kept << ((g & 1) << 2));
        }
        return true;
    }

    /// <summary>Any N:M of one row, a field at a time; false when a group has more than N nonzeros.</summary>
    private static bool EncodeRow(byte* row, byte* mask, byte* values, byte* index, int cols, int n, int m, int es)
    {
        int bits = IndexBits(m);
        long bitPos = 0;
        Span<int> kept = stackalloc int[16];
        for (int g = 0; g < cols; g += m)
        {
            if (KeptColumns(GroupBits(mask, g, m), n, m, kept) < 0)
            {
                return false;
            }
            for (int j = 0; j < n; j++, bitPos += bits)
            {
                Buffer.MemoryCopy(row + ((long)(g + kept[j]) * es), values, es, es);
                values += es;
                uint field = (uint)kept[j] << (int)(bitPos & 7);
                index[bitPos >> 3] |= (byte)field;
                if (field > 0xFF)
                {
                    index[(bitPos >> 3) + 1] |= (byte)(field >> 8);
                }
            }
        }
        return true;
    }

    /// <summary>The nonzero bits of columns g .. g + m − 1 (m ≤ 16); the mask has zero bytes past its end.</summary>
    private static uint GroupBits(byte* mask, int g, int m)
        => (Unsafe.ReadUnaligned<uint>(mask + (g >> 3)) >> (g & 7)) & ((1u << m) - 1);

    /// <summary>
    /// The N columns a group keeps, in column order: every nonzero, padded with the leftmost zeros so the indices
    /// stay increasing. Returns the group's nonzero count, or −1 when it exceeds N.
    /// </summary>
    private static int KeptColumns(uint nonzeros, int n, int m, Span<int> kept)
    {
        int nz = BitOperations.PopCount(nonzeros);
        if (nz > n)
        {
            return -1;
        }
        int fill = n - nz, k = 0;
        for (int j = 0; j < m; j++)
        {
            bool zero = (nonzeros >> j & 1) == 0;
            if (!zero || fill > 0)
            {
                fill -= zero ? 1 : 0;
                kept[k++] = j;
            }
        }
        return nz;
    }

    private static byte[] BuildKeptOf24()
    {
        var table = new byte[16];
        Span<int> kept = stackalloc int[2];
        for (uint nibble = 0; nibble < 16; nibble++)
        {
            table[nibble] = KeptColumns(nibble, 2, 4, kept) < 0 ? Breaks24 : (byte)(kept[0] | (kept[1] << 2));
        }
        return table;
    }

    /// <summary>The error for the first group of row <paramref name="r"/> with more than N nonzeros.</summary>
    private static SparseFormatException FirstBadGroup(DenseSource src, int r, int n, int m)
    {
        fixed (byte* mask = new byte[NonzeroMask.Stride(src.Cols) + 8])
        {
            NonzeroMask.Row(src, r, mask);
            int g = 0;
            while (BitOperations.PopCount(GroupBits(mask, g, m)) <= n)
            {
                g += m;
            }
            int nz = BitOperations.PopCount(GroupBits(mask, g, m));
            return new SparseFormatException(src.Name,
                $"row {r}, group {g / m} (columns {g}..{g + m - 1}) has {nz} nonzeros; {n}:{m} allows at most {n}");
        }
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
        return new NMSparseMatrix(name, dtype, rows, cols, n, m, NativeBlock.Borrow(values), NativeBlock.Borrow(index)) { FiniteVerified = values.FiniteVerified };
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
        return new NMSparseMatrix(name, dtype, rows, cols, n, m, NativeBlock.Borrow(values), index) { FiniteVerified = values.FiniteVerified };
    }

    /// <inheritdoc/>
    protected override void Release()
    {
        _values.Dispose();
        _index.Dispose();
    }
}
