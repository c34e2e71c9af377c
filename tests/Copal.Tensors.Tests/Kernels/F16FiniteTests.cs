using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>
/// F16 weights checked finite (<see cref="WeightMatrix.FiniteVerified"/>) are converted without the Inf/NaN patch:
/// exactly for every finite half, so every decode and prefill kernel gives the bits of the patched conversion; and
/// only marked weights take it, so an unmarked Inf still reaches the output. Both widths of every kernel, so these
/// switch the process-wide path and run in the kernel-path collection.
/// </summary>
[Collection(KernelPathCollection.Name)]
public sealed unsafe class F16FiniteTests
{
    [Fact]
    public void The_finite_conversion_is_exact_for_every_finite_half()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = (ushort)i;
        }
        fixed (ushort* p = bits)
        {
            for (int i = 0; i < bits.Length; i += 16)
            {
                Vector256<float> low = F16FiniteLoad.Load8((byte*)p, i), high = F16FiniteLoad.Load8((byte*)p, i + 8);
                Vector512<float> wide = F16FiniteLoad.Load16((byte*)p, i);
                for (int j = 0; j < 16; j++)
                {
                    Half h = BitConverter.UInt16BitsToHalf((ushort)(i + j));
                    if (!Half.IsFinite(h))
                    {
                        continue;
                    }
                    int want = BitConverter.SingleToInt32Bits((float)h);
                    float got8 = j < 8 ? low[j] : high[j - 8];
                    Assert.True(BitConverter.SingleToInt32Bits(got8) == want && BitConverter.SingleToInt32Bits(wide[j]) == want,
                        $"half 0x{i + j:X4}: got {got8:R} (8 lanes) and {wide[j]:R} (16 lanes), expected {(float)h:R}");
                }
            }
        }
    }

    /// <summary>n = 1 (GEMV), 3 (rows one by one), 5 and 8 (batched tiles where Vector512 is hardware), 13 (GEMM).</summary>
    public static TheoryData<int> InputRows => new(1, 3, 5, 8, 13);

    [Theory]
    [MemberData(nameof(InputRows))]
    public void Marked_weights_give_the_bits_of_unmarked_ones_in_every_kernel(int n)
    {
        const int rows = 70, cols = 1031; // an edge panel, and every SIMD tail
        using var w = new StoredMatrix(DType.F16, rows, cols, seed: 3);
        float[] x = Rand.Floats(n * cols, seed: 4);
        WeightMatrix marked = w.Matrix with { FiniteVerified = true };
        OnEachPath(path =>
        {
            Assert.Equal(Multiply(x, n, w.Matrix), Multiply(x, n, marked));
            using var panels = new PanelCopy(w.Matrix);
            using var markedPanels = new PanelCopy(marked);
            Assert.True(markedPanels.Matrix.FiniteVerified, "packing dropped the mark");
            Assert.Equal(Multiply(x, n, panels.Matrix), Multiply(x, n, markedPanels.Matrix));
        });
    }

    [Theory]
    [MemberData(nameof(InputRows))]
    public void An_unmarked_Inf_reaches_the_output_and_a_marked_one_shows_the_finite_conversion_ran(int n)
    {
        const int rows = 8, cols = 64;
        using var w = new StoredMatrix(DType.F16, rows, cols, seed: 5);
        ((ushort*)w.Data)[(3 * cols) + 17] = 0x7C00; // +Inf at [3, 17]
        float[] x = Rand.Floats(n * cols, seed: 6);
        OnEachPath(path =>
        {
            float[] plain = Multiply(x, n, w.Matrix);
            float[] fast = Multiply(x, n, w.Matrix with { FiniteVerified = true });
            for (int i = 0; i < n; i++)
            {
                Assert.True(!float.IsFinite(plain[(i * rows) + 3]), $"{path} n={n}: an unmarked Inf weight gave {plain[(i * rows) + 3]}");
                // Marked (wrongly, on purpose) it comes out as 2^16: proof that the finite conversion served the call.
                Assert.True(float.IsFinite(fast[(i * rows) + 3]), $"{path} n={n}: the marked matrix did not take the finite conversion");
            }
        });
    }

    private static float[] Multiply(float[] x, int n, WeightMatrix w)
    {
        var y = new float[n * w.Rows];
        MatMul.Compute(x, n, w, y, threads: 2);
        return y;
    }

    private sealed class PanelCopy(WeightMatrix source) : IDisposable
    {
        public WeightMatrix Matrix { get; } = PanelPacking.Pack(source);

        public void Dispose() => NativeMemory.AlignedFree(Matrix.Data);
    }

    private static void OnEachPath(Action<string> check)
    {
        bool saved = KernelPaths.UseVector512;
        try
        {
            foreach (bool wide in Vector512.IsHardwareAccelerated ? new[] { false, true } : [false])
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
}
