using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Sparse;

/// <summary>
/// Lookup tables that turn one mask byte (8 columns) into the shuffle that spreads the chunk's packed values to
/// their columns. AVX2 has no VPEXPAND, so the expand is a table load plus one shuffle. Allocated once, aligned.
/// </summary>
internal static unsafe class SparseLuts
{
    /// <summary>
    /// BF16 and F16: per mask byte, a VPSHUFB control for a register holding 8 packed 16-bit values in both 128-bit lanes:
    /// output float i takes value rank(i) into its upper two bytes, or zero when bit i is clear (0x80 zeroes a byte),
    /// so widening to f32 and zeroing come for free.
    /// </summary>
    public static readonly Vector256<byte>* ExpandBf16 = BuildBf16();

    /// <summary>F32: per mask byte, the VPERMPS index moving packed value rank(i) to lane i.</summary>
    public static readonly Vector256<int>* ExpandF32Index = BuildF32Index();

    /// <summary>F32: per mask byte, all-ones lanes where bit i is set, to zero the lanes VPERMPS filled with junk.</summary>
    public static readonly Vector256<float>* ExpandF32Keep = BuildF32Keep();

    /// <summary>2:4: an index byte (two groups, two 2-bit fields each) to the mask byte of those eight columns.</summary>
    public static readonly byte* MaskOf24 = BuildMaskOf24();

    private static T* Alloc<T>(int count) where T : unmanaged
        => (T*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(T)), 64);

    private static Vector256<byte>* BuildBf16()
    {
        var table = Alloc<Vector256<byte>>(256);
        for (int m = 0; m < 256; m++)
        {
            byte* e = (byte*)(table + m);
            int rank = 0;
            for (int i = 0; i < 8; i++)
            {
                // Lane i/4 of the 256-bit shuffle writes output float i; each lane sees all 16 source bytes.
                byte* d = e + (i >> 2) * 16 + (i & 3) * 4;
                bool set = (m >> i & 1) != 0;
                d[0] = 0x80;
                d[1] = 0x80;
                d[2] = set ? (byte)(2 * rank) : (byte)0x80;
                d[3] = set ? (byte)(2 * rank + 1) : (byte)0x80;
                rank += set ? 1 : 0;
            }
        }
        return table;
    }

    private static Vector256<int>* BuildF32Index()
    {
        var table = Alloc<Vector256<int>>(256);
        for (int m = 0; m < 256; m++)
        {
            int* e = (int*)(table + m);
            int rank = 0;
            for (int i = 0; i < 8; i++)
            {
                bool set = (m >> i & 1) != 0;
                e[i] = set ? rank++ : 0;
            }
        }
        return table;
    }

    private static Vector256<float>* BuildF32Keep()
    {
        var table = Alloc<Vector256<float>>(256);
        for (int m = 0; m < 256; m++)
        {
            int* e = (int*)(table + m);
            for (int i = 0; i < 8; i++)
            {
                e[i] = (m >> i & 1) != 0 ? -1 : 0;
            }
        }
        return table;
    }

    private static byte* BuildMaskOf24()
    {
        var table = Alloc<byte>(256);
        for (int b = 0; b < 256; b++)
        {
            int mask = 0;
            for (int field = 0; field < 4; field++)
            {
                int group = field >> 1;
                mask |= 1 << (group * 4 + (b >> (field * 2) & 3));
            }
            table[b] = (byte)mask;
        }
        return table;
    }
}
