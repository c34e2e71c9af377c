using System.Runtime.InteropServices;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>
/// A random weight stored in a dtype in native memory, with the exact f32 value of every stored element for the
/// scalar references (BF16/F16 rounding happens once, at creation).
/// </summary>
internal sealed unsafe class StoredMatrix : IDisposable
{
    private readonly void* _data;

    public StoredMatrix(DType dtype, int rows, int cols, int seed, float scale = 1f)
    {
        Values = new float[rows * cols];
        var random = new Random(seed);
        int size = dtype.SizeOf();
        _data = NativeMemory.AlignedAlloc((nuint)Math.Max(1, Values.Length * size), 64);
        for (int i = 0; i < Values.Length; i++)
        {
            float v = (float)(random.NextDouble() * 2 - 1) * scale;
            switch (dtype)
            {
                case DType.F32:
                    ((float*)_data)[i] = v;
                    Values[i] = v;
                    break;
                case DType.BF16:
                    ushort b = (ushort)(BitConverter.SingleToInt32Bits(v) >> 16);
                    ((ushort*)_data)[i] = b;
                    Values[i] = BitConverter.Int32BitsToSingle(b << 16);
                    break;
                case DType.F16:
                    Half h = (Half)v;
                    ((Half*)_data)[i] = h;
                    Values[i] = (float)h;
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a weight dtype");
            }
        }
        Matrix = new WeightMatrix(_data, dtype, rows, cols);
    }

    public WeightMatrix Matrix { get; }

    /// <summary>The stored elements as f32, row-major.</summary>
    public float[] Values { get; }

    public byte* Data => (byte*)_data;

    public void Dispose() => NativeMemory.AlignedFree(_data);
}

internal static class Rand
{
    public static float[] Floats(int count, int seed, float scale = 1f)
    {
        var random = new Random(seed);
        var a = new float[count];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        }
        return a;
    }

    public static readonly DType[] WeightDTypes = [DType.F32, DType.BF16, DType.F16];

    /// <summary>Every length 1..256, then sizes that leave every SIMD tail and cross cache blocks.</summary>
    public static IEnumerable<int> Lengths()
    {
        for (int n = 1; n <= 256; n++)
        {
            yield return n;
        }
        yield return 257;
        yield return 1023;
        yield return 4097;
    }
}
