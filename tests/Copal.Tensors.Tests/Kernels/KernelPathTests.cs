using System.Runtime.Intrinsics;
using Copal.Tensors.Kernels;
using Copal.Testing;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>
/// Every SIMD width of the matrix kernels against the scalar reference: on an AVX-512 machine the default run
/// only reaches the Vector512 paths, so these force the Vector256 ones too. The switch is process-wide, and other
/// tests compare two kernel calls bit for bit (batched rows against single rows), which a switch between the two
/// calls breaks: so these tests run in a collection of their own, never beside any other test.
/// </summary>
[Collection(KernelPathCollection.Name)]
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

    /// <summary>
    /// A row's GEMV is summed the same way in a block of four rows as alone, so how rows fall to threads (and to
    /// the blocks within a thread's range) cannot change a logit.
    /// </summary>
    [Theory]
    [MemberData(nameof(DTypes))]
    public void Gemv_gives_a_row_the_same_bits_alone_as_among_others_on_every_path(DType dtype)
    {
        OnEachPath(path =>
        {
            const int rows = 9;
            foreach (int cols in Rand.Lengths())
            {
                using var w = new StoredMatrix(dtype, rows, cols, seed: cols);
                float[] x = Rand.Floats(cols, seed: 1000 + cols);
                var together = new float[rows];
                var alone = new float[rows];
                Gemv.Compute(x, w.Matrix, 0, rows, together);
                for (int j = 0; j < rows; j++)
                {
                    Gemv.Compute(x, w.Matrix, j, j + 1, alone);
                }
                Assert.True(together.Select(BitConverter.SingleToInt32Bits).SequenceEqual(alone.Select(BitConverter.SingleToInt32Bits)),
                    $"gemv {path} {dtype} cols={cols}: rows alone [{string.Join(", ", alone)}], together [{string.Join(", ", together)}]");
            }
        });
    }

    /// <summary>
    /// Batched decode's rows (4–8: the register tiles of either width) give each row its one-row bits. Widths of
    /// whole 16-column steps (48, 1024, as real models' are) leave no column tail: the AVX2 BF16 pair tiles then
    /// read every input column from the even/odd arrangement, whose last step a kernel that stopped one step
    /// short left stale.
    /// </summary>
    [Theory]
    [MemberData(nameof(DTypes))]
    public void A_few_rows_give_each_row_its_single_row_bits_on_every_path(DType dtype)
    {
        OnEachPath(path =>
        {
            foreach ((int n, int cols) in new[] { (4, 40), (5, 1023), (8, 2061), (4, 48), (6, 1024) })
            {
                using var w = new StoredMatrix(dtype, 37, cols, seed: n);
                float[] x = Rand.Floats(n * cols, seed: cols);
                BatchedRows.AssertEachEqualsItsSingleRow(x, n, w.Matrix, batchThreads: 2, singleThreads: 1);
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
    public void Small_head_blocked_attention_matches_reference_on_every_path()
    {
        OnEachPath(path =>
        {
            // Head dim 8 (stories260K) across the 64-key score steps: rows whose keys end inside a step, on a step's
            // edge and past two steps; and an odd small head on the plain loops. Windows (the last number, 0: none)
            // start inside a step, on a step's edge and past several steps.
            foreach (var (rows, startPos, heads, kvHeads, headDim, window) in new[] { (70, 0, 8, 4, 8, 0), (130, 63, 8, 4, 8, 0), (48, 16, 4, 2, 8, 0),
                (33, 9, 4, 2, 6, 0), (130, 63, 8, 4, 8, 37), (100, 100, 4, 2, 8, 64), (200, 10, 4, 2, 8, 129), (33, 9, 4, 2, 6, 5) })
            {
                float[] q = Rand.Floats(rows * heads * headDim, 1, 2f);
                float[] k = Rand.Floats((startPos + rows) * kvHeads * headDim, 2, 2f);
                float[] v = Rand.Floats((startPos + rows) * kvHeads * headDim, 3);
                var shape = new Copal.Tensors.Backends.AttentionShape(rows, startPos, heads, kvHeads, headDim, 1f / MathF.Sqrt(headDim), window);
                float[] expected = Reference.Attention(q, k, v, rows, startPos, heads, kvHeads, headDim, shape.Scale, window);
                var output = new float[q.Length];
                var scratch = new float[BlockedAttention.ScratchLength(shape)];
                BlockedAttention.Compute(q, k, v, shape, 0, BlockedAttention.Items(shape), scratch, output);
                Tolerances.AssertClose(output, expected, what: $"blocked attention {path} rows={rows} start={startPos} d={headDim} window={window}");
            }
        });
    }

    [Fact]
    public void Softmax_exp_is_within_the_elementary_bound_of_exp_on_every_width()
    {
        // The whole softmax range [−87, 0] on a fine grid: every width and the scalar tail against exp in double.
        const int steps = 1 << 20;
        var x = new float[steps + 16];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = Math.Max(SoftmaxExp.Floor, -87f * i / steps);
        }
        int worst = 0;
        for (int i = 0; i + 16 <= x.Length; i += 16)
        {
            var v = Vector512.Create(x.AsSpan(i, 16));
            Vector512<float> wide = SoftmaxExp.Exp(v);
            Vector256<float> lower = SoftmaxExp.Exp(v.GetLower()), upper = SoftmaxExp.Exp(v.GetUpper());
            for (int lane = 0; lane < 16; lane++)
            {
                float want = (float)Math.Exp(x[i + lane]);
                worst = Math.Max(worst, Ulps(want, wide.GetElement(lane)));
                worst = Math.Max(worst, Ulps(want, lane < 8 ? lower.GetElement(lane) : upper.GetElement(lane - 8)));
                worst = Math.Max(worst, Ulps(want, SoftmaxExp.Exp(x[i + lane])));
            }
        }
        Assert.True(worst <= Tolerances.ElementaryUlps, $"softmax exp is {worst} ulp from exp");
        // Below the floor and at −∞: 0; NaN stays NaN (an all −∞ softmax row is NaN, as in torch).
        var edges = Vector512.Create(-87.5f, -100f, float.NegativeInfinity, float.NaN, -1e30f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f);
        Vector512<float> got = SoftmaxExp.Exp(edges);
        Assert.Equal([0f, 0f, 0f], new[] { got[0], got[1], got[2] });
        Assert.True(float.IsNaN(got[3]) && got[4] == 0f && got[5] == 1f, $"edges: {got}");
        Assert.True(float.IsNaN(SoftmaxExp.Exp(float.NaN)) && SoftmaxExp.Exp(float.NegativeInfinity) == 0f && SoftmaxExp.Exp(-90f) == 0f);
    }

    private static int Ulps(float want, float got) =>
        Math.Abs(BitConverter.SingleToInt32Bits(want) - BitConverter.SingleToInt32Bits(got));

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

    /// <summary>
    /// A weight of no input columns (an empty sum) gives zeros on every path and input row count, panels too: the
    /// AVX2 batched BF16 kernel took the address of element 0 of its empty scratch and threw instead.
    /// </summary>
    [Theory]
    [MemberData(nameof(DTypes))]
    public unsafe void A_weight_of_no_columns_gives_zeros_on_every_path(DType dtype)
    {
        OnEachPath(path =>
        {
            const int rows = 40;
            using var w = new StoredMatrix(dtype, rows, 0, seed: 1);
            WeightMatrix panels = PanelPacking.Pack(w.Matrix);
            try
            {
                foreach (int n in new[] { 1, 3, 4, 5, 8, 9, 13 })
                {
                    foreach (WeightMatrix matrix in new[] { w.Matrix, panels })
                    {
                        var y = new float[n * rows];
                        y.AsSpan().Fill(float.NaN);
                        MatMul.Compute(ReadOnlySpan<float>.Empty, n, matrix, y, threads: 2);
                        Assert.True(y.All(v => v == 0f), $"{path} {dtype} {matrix.Layout} n={n}: {string.Join(", ", y.Distinct())}");
                    }
                }
            }
            finally
            {
                System.Runtime.InteropServices.NativeMemory.AlignedFree(panels.Data);
            }
        });
    }

    private static void AssertSameBits(float want, float got, string what) =>
        Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got) || (float.IsNaN(want) && float.IsNaN(got)),
            $"{what}: got {got:R}, expected {want:R}");
}

/// <summary>The tests that switch <see cref="KernelPaths.UseVector512"/>: xUnit runs them after, not beside, all others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class KernelPathCollection
{
    public const string Name = "kernel paths (process-wide switch)";
}
