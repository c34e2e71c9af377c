using System.Runtime.Intrinsics;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>
/// Every SIMD width of the matrix kernels against the scalar reference: on an AVX-512 machine the default run
/// only reaches the Vector512 paths, so these force the Vector256 ones too. The paths are switched within one
/// test (never concurrently by two), and either path gives a correct result for any other test running meanwhile.
/// </summary>
public class KernelPathTests
{
    public static TheoryData<DType> DTypes => new(Rand.WeightDTypes);

    private static IEnumerable<bool> Paths()
    {
        yield return false;
        if (Vector512.IsHardwareAccelerated)
        {
            yield return true;
        }
    }

    private static void OnEachPath(Action<string> check)
    {
        bool saved = KernelPaths.UseVector512;
        try
        {
            foreach (bool wide in Paths())
            {
                KernelPaths.UseVector512 = wide;
                check(wide ? "Vector512" : "Vector256");
            }
        }
        finally
        {
            KernelPaths.UseVector512 = saved;
        }
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void Gemv_matches_reference_on_every_path(DType dtype)
    {
        OnEachPath(path =>
        {
            const int rows = 9;
            foreach (int cols in Rand.Lengths())
            {
                using var w = new StoredMatrix(dtype, rows, cols, seed: cols);
                float[] x = Rand.Floats(cols, seed: 1000 + cols);
                var y = new float[rows];
                Gemv.Compute(x, w.Matrix, 0, rows, y);
                KernelTolerance.AssertSums(y, Reference.MatMul(x, 1, w.Values, rows, cols), cols, $"gemv {path} {dtype} cols={cols}");
            }
        });
    }

    [Theory]
    [MemberData(nameof(DTypes))]
    public void MatMul_matches_reference_on_every_path(DType dtype)
    {
        OnEachPath(path =>
        {
            foreach (int n in new[] { 1, 7, 13 })
            {
                const int rows = 301, cols = 1023;
                using var w = new StoredMatrix(dtype, rows, cols, seed: 5 + n);
                float[] x = Rand.Floats(n * cols, seed: 6 + n);
                float[] expected = Reference.MatMul(x, n, w.Values, rows, cols);
                foreach (int threads in new[] { 1, 2, 5 })
                {
                    var y = new float[n * rows];
                    MatMul.Compute(x, n, w.Matrix, y, threads);
                    KernelTolerance.AssertSums(y, expected, cols, $"matmul {path} {dtype} n={n} threads={threads}");
                }
            }
        });
    }

    [Fact]
    public void Gram_matches_reference_on_every_path()
    {
        OnEachPath(path =>
        {
            // Widths around the 12×32 register tile's edges, rows across a 256-deep slab.
            foreach (int cols in new[] { 11, 12, 33, 97 })
            {
                const int rows = 300;
                float[] x = Rand.Floats(rows * cols, seed: cols);
                var gram = new float[cols * cols];
                float[] expected = Reference.Gram(x, rows, cols, gram);
                Gram.Accumulate(x, rows, cols, gram, threads: 1);
                KernelTolerance.AssertSums(gram, expected, rows, $"gram {path} cols={cols}");
            }
        });
    }

    [Fact]
    public unsafe void Wide_loaders_match_the_scalar_loaders_for_every_pattern()
    {
        // All 65536 bit patterns as F16 and as BF16 (normals, subnormals, zeros, infinities, NaNs).
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = (ushort)i;
        }
        fixed (ushort* p = bits)
        {
            for (int i = 0; i < bits.Length; i += 16)
            {
                Vector512<float> half = F16Load.Load16((byte*)p, i), brain = Bf16Load.Load16((byte*)p, i);
                for (int lane = 0; lane < 16; lane++)
                {
                    AssertSameBits(F16Load.Load1((byte*)p, i + lane), half.GetElement(lane), $"f16 0x{i + lane:X4}");
                    AssertSameBits(Bf16Load.Load1((byte*)p, i + lane), brain.GetElement(lane), $"bf16 0x{i + lane:X4}");
                }
            }
        }
    }

    private static void AssertSameBits(float want, float got, string what) =>
        Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got) || (float.IsNaN(want) && float.IsNaN(got)),
            $"{what}: got {got:R}, expected {want:R}");
}
