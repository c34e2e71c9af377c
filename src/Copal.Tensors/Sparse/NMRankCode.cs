using System.Collections.Concurrent;

namespace Copal.Tensors.Sparse;

/// <summary>
/// The stored (on-disk) form of N:M indices when it is smaller than the in-memory bit fields: each group's set of
/// kept columns becomes its rank among the C = C(M, N) subsets in lexicographic order, and K = ⌊log_C 256⌋ ranks
/// share one byte as base-C digits (group K·i + j of a row is digit j, weight C^j, of the row's byte i; a row's
/// last byte holds the leftover groups). For 2:4, C = 6 and K = 3: 8 bits per three groups instead of 12, which
/// takes a BF16 2:4 weight from 1.125 to about 1.083 bytes per weight. The kernels keep reading bit fields (a 2:4
/// nibble turns into a mask byte with one table lookup), so loading decodes the ranks once into that layout.
/// </summary>
internal sealed unsafe class NMRankCode
{
    private static readonly ConcurrentDictionary<(int N, int M), NMRankCode?> Cache = new();

    private readonly ushort[] _maskOfRank;
    private readonly short[] _rankOfMask;
    private readonly ulong[] _fieldsOfRank;
    // The fields of all K groups of each byte value, when they fit 56 bits (2:4: 12 bits), so a byte decodes in one step.
    private readonly ulong[]? _fieldsOfByte;

    private NMRankCode(int n, int m, int subsets, int groupsPerByte)
    {
        N = n;
        M = m;
        Subsets = subsets;
        GroupsPerByte = groupsPerByte;
        int bits = NMSparseMatrix.IndexBits(m);
        _maskOfRank = new ushort[subsets];
        _fieldsOfRank = new ulong[subsets];
        _rankOfMask = new short[1 << m];
        Array.Fill(_rankOfMask, (short)-1);
        int rank = 0;
        // Lexicographic order of the sorted column lists is descending order of the masks read with column 0 as the
        // most significant bit (2:4: {0,1} {0,2} {0,3} {1,2} {1,3} {2,3}).
        var masks = new List<int>();
        for (int mask = 0; mask < 1 << m; mask++)
        {
            if (System.Numerics.BitOperations.PopCount((uint)mask) == n)
            {
                masks.Add(mask);
            }
        }
        masks.Sort((a, b) => Reverse(b, m).CompareTo(Reverse(a, m)));
        foreach (int mask in masks)
        {
            _maskOfRank[rank] = (ushort)mask;
            _rankOfMask[mask] = (short)rank;
            ulong fields = 0;
            int k = 0;
            for (int c = 0; c < m; c++)
            {
                if ((mask >> c & 1) != 0)
                {
                    fields |= (ulong)c << (k++ * bits);
                }
            }
            _fieldsOfRank[rank++] = fields;
        }
        GroupBits = n * bits;
        if (GroupBits * groupsPerByte <= 56)
        {
            int values = Pow(subsets, groupsPerByte);
            _fieldsOfByte = new ulong[values];
            for (int v = 0; v < values; v++)
            {
                ulong all = 0;
                int rest = v;
                for (int j = 0; j < groupsPerByte; j++, rest /= subsets)
                {
                    all |= _fieldsOfRank[rest % subsets] << (j * GroupBits);
                }
                _fieldsOfByte[v] = all;
            }
        }
    }

    public int N { get; }

    public int M { get; }

    /// <summary>C(M, N): how many kept-column sets a group can have.</summary>
    public int Subsets { get; }

    /// <summary>K: groups per stored byte.</summary>
    public int GroupsPerByte { get; }

    /// <summary>Bits of one group's fields in the in-memory layout: N·⌈log2 M⌉.</summary>
    public int GroupBits { get; }

    /// <summary>Stored bytes per row for <paramref name="cols"/> columns.</summary>
    public int Stride(int cols) => (cols / M + GroupsPerByte - 1) / GroupsPerByte;

    /// <summary>The code for N:M when it stores rows of <paramref name="cols"/> columns in fewer bytes than the bit fields; else null.</summary>
    public static NMRankCode? For(int n, int m, int cols)
    {
        NMRankCode? code = Cache.GetOrAdd((n, m), static key => Create(key.N, key.M));
        return code is not null && code.Stride(cols) < NMSparseMatrix.IndexStrideOf(cols, n, m) ? code : null;
    }

    private static NMRankCode? Create(int n, int m)
    {
        long subsets = 1;
        for (int i = 0; i < n; i++)
        {
            subsets = subsets * (m - i) / (i + 1);
        }
        if (subsets < 2 || subsets > 256)
        {
            return null;
        }
        int k = 1;
        while (Pow((int)subsets, k + 1) <= 256)
        {
            k++;
        }
        return new NMRankCode(n, m, (int)subsets, k);
    }

    /// <summary>The stored bytes [Rows, Stride] of <paramref name="matrix"/>'s indices.</summary>
    public byte[] Encode(NMSparseMatrix matrix)
    {
        int rows = matrix.Rows, cols = matrix.Cols, groups = cols / M, stride = Stride(cols);
        var stored = new byte[(long)rows * stride];
        // 4 spare bytes past the row mask let every group's bits be read as one 32-bit word.
        byte[] maskBuffer = new byte[matrix.MaskStride + 4];
        int fieldMask = (1 << M) - 1;
        fixed (byte* ms = maskBuffer)
        {
            for (int r = 0; r < rows; r++)
            {
                // An N:M matrix always decodes its row mask into the scratch it is given.
                matrix.RowMask(r, ms);
                for (int g = 0, b = 0; g < groups; b++)
                {
                    int value = 0, weight = 1;
                    for (int j = 0; j < GroupsPerByte && g < groups; j++, g++, weight *= Subsets)
                    {
                        int bit = g * M;
                        int groupMask = (int)(*(uint*)(ms + (bit >> 3)) >> (bit & 7)) & fieldMask;
                        value += _rankOfMask[groupMask] * weight;
                    }
                    stored[((long)r * stride) + b] = (byte)value;
                }
            }
        }
        return stored;
    }

    /// <summary>
    /// Decodes stored bytes [rows, Stride] into the in-memory bit fields [rows, IndexStride]; a byte that is not a
    /// valid K-digit (or, in a row's last byte, shorter) base-C number throws naming the tensor, row and byte.
    /// </summary>
    public NativeBlock Decode(string owner, TensorView stored, int rows, int cols)
    {
        int groups = cols / M, stride = Stride(cols), fieldStride = NMSparseMatrix.IndexStrideOf(cols, N, M);
        int full = Pow(Subsets, GroupsPerByte), lastGroups = groups - ((stride - 1) * GroupsPerByte), last = Pow(Subsets, lastGroups);
        var index = NativeBlock.Allocate((long)rows * fieldStride);
        try
        {
            for (int r = 0; r < rows; r++)
            {
                byte* src = stored.Data + ((long)r * stride);
                var writer = new BitWriter(index.Data + ((long)r * fieldStride));
                for (int b = 0; b < stride; b++)
                {
                    int value = src[b], limit = b == stride - 1 ? last : full, count = b == stride - 1 ? lastGroups : GroupsPerByte;
                    if (value >= limit)
                    {
                        throw new SparseFormatException(owner,
                            $"'{stored.Name}' row {r}, byte {b} is {value}; {count} groups of {N}:{M} ({Subsets} patterns each) encode below {limit}");
                    }
                    if (_fieldsOfByte is not null)
                    {
                        // A short last byte's missing digits are 0, whose fields are not: keep only its groups' bits.
                        int width = count * GroupBits;
                        writer.Put(_fieldsOfByte[value] & ((1UL << width) - 1), width);
                        continue;
                    }
                    for (int j = 0; j < count; j++, value /= Subsets)
                    {
                        writer.Put(_fieldsOfRank[value % Subsets], GroupBits);
                    }
                }
                writer.Flush();
            }
        }
        catch
        {
            index.Dispose();
            throw;
        }
        return index;
    }

    private static int Reverse(int mask, int width)
    {
        int reversed = 0;
        for (int i = 0; i < width; i++)
        {
            reversed |= (mask >> i & 1) << (width - 1 - i);
        }
        return reversed;
    }

    private static int Pow(int b, int e)
    {
        int p = 1;
        for (int i = 0; i < e; i++)
        {
            p *= b;
        }
        return p;
    }

    /// <summary>Appends little-endian bit fields to a zeroed byte row.</summary>
    private struct BitWriter(byte* destination)
    {
        private byte* _next = destination;
        private ulong _pending;
        private int _pendingBits;

        // Fields of up to 60 bits (15:16); above 32 they go in two halves so the 64-bit buffer never overflows.
        public void Put(ulong value, int bits)
        {
            if (bits > 32)
            {
                Put(value & 0xFFFF_FFFF, 32);
                Put(value >> 32, bits - 32);
                return;
            }
            _pending |= value << _pendingBits;
            _pendingBits += bits;
            while (_pendingBits >= 8)
            {
                *_next++ = (byte)_pending;
                _pending >>= 8;
                _pendingBits -= 8;
            }
        }

        public void Flush()
        {
            if (_pendingBits > 0)
            {
                *_next = (byte)_pending;
            }
        }
    }
}
