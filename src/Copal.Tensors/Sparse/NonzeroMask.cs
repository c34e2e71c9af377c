using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Sparse;

/// <summary>The work done on one row of a dense matrix, given that row's nonzero mask.</summary>
internal unsafe delegate void MaskedRowAction(int row, byte* mask);

/// <summary>
/// A row's nonzero pattern as bits, in the bitmask format's layout: bit c % 8 of byte c / 8 is set when column c is
/// nonzero (−0 counts as zero), and the padding bits are zero. Measuring a weight and every sparse conversion start
/// from it: one vector pass over the dense values, 64 at a time, instead of one test per element in each of several
/// passes. Rows are independent, so <see cref="ForEachRow"/> shares them out (<see cref="RowPartition"/>).
/// </summary>
internal static unsafe class NonzeroMask
{
    /// <summary>Fewest elements worth a thread of their own: a small weight stays on the calling thread.</summary>
    internal const int MinElementsPerThread = 1 << 18;

    /// <summary>Bytes of one row's mask.</summary>
    public static int Stride(int cols) => (cols + 7) >> 3;

    /// <summary>
    /// Runs <paramref name="body"/> on every row, in parallel, with the row's mask. The mask buffer has eight zero
    /// bytes after the row's <see cref="Stride"/> bytes, so a reader may load whole words past its end.
    /// </summary>
    public static void ForEachRow(DenseSource src, MaskedRowAction body)
    {
        int stride = Stride(src.Cols);
        RowPartition.For(src.Rows, threads: 0, align: 1, Math.Max(1, MinElementsPerThread / src.Cols), (start, end) =>
        {
            fixed (byte* mask = new byte[stride + 16])
            {
                for (int r = start; r < end; r++)
                {
                    Row(src, r, mask);
                    body(r, mask);
                }
            }
        });
    }

    /// <summary>Writes exactly <see cref="Stride"/> bytes: row <paramref name="row"/>'s mask.</summary>
    public static void Row(DenseSource src, int row, byte* mask)
    {
        int cols = src.Cols, c = 0;
        if (src.ElementSize == 2)
        {
            // BF16 and F16: both zeros are the 16-bit words with every bit but the sign clear.
            ushort* p = (ushort*)src.Data + ((long)row * cols);
            for (; c + 64 <= cols; c += 64)
            {
                Unsafe.WriteUnaligned(mask + (c >> 3), SixteenBitNonzeros(p + c));
            }
        }
        else
        {
            uint* p = (uint*)src.Data + ((long)row * cols);
            for (; c + 64 <= cols; c += 64)
            {
                Unsafe.WriteUnaligned(mask + (c >> 3), F32Nonzeros(p + c));
            }
        }
        ulong tail = 0;
        for (int j = c; j < cols; j++)
        {
            tail |= src.IsZero(row, j) ? 0 : 1UL << (j - c);
        }
        for (int b = c >> 3; b < Stride(cols); b++, tail >>= 8)
        {
            mask[b] = (byte)tail;
        }
    }

    /// <summary>Set bits of a mask of <paramref name="bytes"/> bytes.</summary>
    public static long Count(byte* mask, int bytes)
    {
        long count = 0;
        int b = 0;
        for (; b + 8 <= bytes; b += 8)
        {
            count += BitOperations.PopCount(Unsafe.ReadUnaligned<ulong>(mask + b));
        }
        for (; b < bytes; b++)
        {
            count += BitOperations.PopCount((uint)mask[b]);
        }
        return count;
    }

    /// <summary>Set bits of each 4-bit group of <paramref name="w"/>, one count (0..4) per nibble.</summary>
    public static ulong NibbleCounts(ulong w)
    {
        w -= (w >> 1) & 0x5555_5555_5555_5555UL;
        return (w & 0x3333_3333_3333_3333UL) + ((w >> 2) & 0x3333_3333_3333_3333UL);
    }

    /// <summary>True when some nibble of <paramref name="w"/> has more than two set bits (a group breaking 2:4).</summary>
    // A count of 3 or 4 plus 5 reaches the nibble's top bit; 0..2 plus 5 does not, and nothing carries out.
    public static bool AnyNibbleOverTwo(ulong w) => ((NibbleCounts(w) + 0x5555_5555_5555_5555UL) & 0x8888_8888_8888_8888UL) != 0;

    /// <summary>True when some byte of <paramref name="w"/> has more than four set bits (a group breaking 4:8).</summary>
    public static bool AnyByteOverFour(ulong w)
    {
        ulong n = NibbleCounts(w);
        ulong perByte = (n + (n >> 4)) & 0x0F0F_0F0F_0F0F_0F0FUL;
        return ((perByte + 0x0303_0303_0303_0303UL) & 0x0808_0808_0808_0808UL) != 0;
    }

    /// <summary>Nonzero bits of 64 BF16 or F16 values (sign bit ignored, so −0 is zero).</summary>
    private static ulong SixteenBitNonzeros(ushort* p)
    {
        ulong zeros = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var magnitude = Vector512.Create((ushort)0x7FFF);
            zeros = Vector512.Equals(Vector512.Load(p) & magnitude, Vector512<ushort>.Zero).ExtractMostSignificantBits()
                | (Vector512.Equals(Vector512.Load(p + 32) & magnitude, Vector512<ushort>.Zero).ExtractMostSignificantBits() << 32);
        }
        else
        {
            var magnitude = Vector128.Create((ushort)0x7FFF);
            for (int i = 0; i < 8; i++)
            {
                zeros |= (ulong)Vector128.Equals(Vector128.Load(p + (8 * i)) & magnitude, Vector128<ushort>.Zero).ExtractMostSignificantBits() << (8 * i);
            }
        }
        return ~zeros;
    }

    /// <summary>Nonzero bits of 64 F32 values given as bits (sign bit ignored, so −0 is zero).</summary>
    private static ulong F32Nonzeros(uint* p)
    {
        ulong zeros = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var magnitude = Vector512.Create(0x7FFF_FFFFu);
            for (int i = 0; i < 4; i++)
            {
                zeros |= (ulong)Vector512.Equals(Vector512.Load(p + (16 * i)) & magnitude, Vector512<uint>.Zero).ExtractMostSignificantBits() << (16 * i);
            }
        }
        else
        {
            var magnitude = Vector128.Create(0x7FFF_FFFFu);
            for (int i = 0; i < 16; i++)
            {
                zeros |= (ulong)Vector128.Equals(Vector128.Load(p + (4 * i)) & magnitude, Vector128<uint>.Zero).ExtractMostSignificantBits() << (4 * i);
            }
        }
        return ~zeros;
    }
}
