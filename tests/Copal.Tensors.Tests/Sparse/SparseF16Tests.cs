using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Copal.Tensors.Kernels;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Tensors.Tests.Sparse;

/// <summary>
/// F16 values in the compact formats: the sparse kernels convert them exactly as the dense F16 kernels do (from the
/// upper half of a lane, where the expand puts them), so a compact F16 weight multiplies as its dense form does,
/// extreme values included; and they handle Inf and NaN unless the values were checked finite, as dense F16 does.
/// The random-matrix sweeps over widths, N:M patterns and GEMM edges are <see cref="SparseMatMulTests"/>' F16 rows.
/// </summary>
public sealed unsafe class SparseF16Tests
{
    [Fact]
    public void Converting_from_the_upper_half_gives_the_dense_loads_bits_for_every_half()
    {
        for (int i = 0; i < 65536; i += 16)
        {
            var high = Vector512.Create(i) + Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            high <<= 16;
            Vector512<float> full = F16Load.FromHigh16(high), finite = F16FiniteLoad.FromHigh16(high);
            Vector256<float> full8 = F16Load.FromHigh8(high.GetLower()), finite8 = F16FiniteLoad.FromHigh8(high.GetLower());
            for (int j = 0; j < 16; j++)
            {
                Half h = BitConverter.UInt16BitsToHalf((ushort)(i + j));
                int want = BitConverter.SingleToInt32Bits((float)h);
                Assert.True(BitConverter.SingleToInt32Bits(full[j]) == want || (Half.IsNaN(h) && float.IsNaN(full[j])),
                    $"half 0x{i + j:X4}: FromHigh16 gave {full[j]:R}, expected {(float)h:R}");
                if (j < 8)
                {
                    Assert.True(BitConverter.SingleToInt32Bits(full8[j]) == want || (Half.IsNaN(h) && float.IsNaN(full8[j])),
                        $"half 0x{i + j:X4}: FromHigh8 gave {full8[j]:R}, expected {(float)h:R}");
                }
                if (Half.IsFinite(h))
                {
                    float narrow = j < 8 ? finite8[j] : finite[j];
                    Assert.True(BitConverter.SingleToInt32Bits(finite[j]) == want && BitConverter.SingleToInt32Bits(narrow) == want,
                        $"half 0x{i + j:X4}: the finite conversion gave {finite[j]:R} and {narrow:R}, expected {(float)h:R}");
                }
            }
        }
    }

    /// <summary>Subnormals (the smallest and largest), the smallest normal, ±65504, −0 and ordinary values.</summary>
    private static readonly ushort[] Extremes = [0x0001, 0x8001, 0x03FF, 0x83FF, 0x0400, 0x7BFF, 0xFBFF, 0x8000, 0x3C00, 0xB555, 0x2E66, 0x0200];

    /// <summary>Bitmask and N:M weights of odd widths, tails and row counts not a multiple of 4, holding <see cref="Extremes"/>.</summary>
    public static TheoryData<int, int, int, int> Shapes => new()
    {
        { 7, 1, 0, 0 }, { 5, 37, 0, 0 }, { 3, 1029, 0, 0 }, { 13, 264, 0, 0 },
        { 7, 36, 2, 4 }, { 5, 1028, 2, 4 }, { 9, 72, 4, 8 }, { 3, 1032, 4, 8 },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Extreme_values_multiply_as_the_dense_F16_kernel_does_on_every_path(int rows, int cols, int n, int m)
    {
        ushort[] bits = ExtremeMatrix(rows, cols, n, m, seed: rows * cols);
        byte[] raw = MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
        float[] w = SparseTestMatrices.Widen(raw, DType.F16);
        foreach (bool finiteVerified in new[] { false, true })
        {
            using var dense = new PinnedTensor("w", DType.F16, [rows, cols], raw);
            TensorView view = dense.View with { FiniteVerified = finiteVerified };
            using var weight = new CpuSparseWeight(n == 0 ? BitmaskSparseMatrix.FromTensor(view) : NMSparseMatrix.FromTensor(view, n, m));
            Assert.Equal(finiteVerified, weight.Matrix.FiniteVerified);
            foreach (int inputRows in new[] { 1, 5, 13 })
            {
                float[] x = SparseTestMatrices.Input(new Random(inputRows), inputRows * cols);
                var reference = SparseTestMatrices.Reference(w, rows, cols, x, inputRows);
                string what = $"{weight.Matrix} finite={finiteVerified} n={inputRows}";
                float[] denseY = new float[inputRows * rows];
                MatMul.Compute(x, inputRows, new WeightMatrix(view.Data, DType.F16, rows, cols) { FiniteVerified = finiteVerified }, denseY, threads: 1);
                SparseTestMatrices.AssertMatches(denseY, reference, $"dense {what}");
                foreach (bool avx512 in new[] { true, false })
                {
                    float[] y = new float[inputRows * rows];
                    y.AsSpan().Fill(float.NaN);
                    SparseMatMul.RunRange(x, weight, y, inputRows, 0, rows, avx512);
                    SparseTestMatrices.AssertMatches(y, reference, $"{what} avx512={avx512}");
                }
            }
        }
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(2, 4)]
    [InlineData(4, 8)]
    public void An_unmarked_Inf_or_NaN_reaches_the_output_as_in_dense_and_a_marked_one_shows_the_finite_conversion_ran(int n, int m)
    {
        const int rows = 9, cols = 72;
        byte[] raw = n == 0
            ? SparseTestMatrices.Unstructured(new Random(2), DType.F16, rows, cols, 0.5)
            : SparseTestMatrices.NM(new Random(2), DType.F16, rows, cols, n, m);
        ushort[] bits = MemoryMarshal.Cast<byte, ushort>(raw).ToArray();
        bits[FirstNonzero(bits, 3, cols)] = 0x7C00; // +Inf in row 3
        bits[FirstNonzero(bits, 6, cols)] = 0x7E00; // NaN in row 6
        raw = MemoryMarshal.AsBytes(bits.AsSpan()).ToArray();
        using var dense = new PinnedTensor("w", DType.F16, [rows, cols], raw);
        foreach (int inputRows in new[] { 1, 7 })
        {
            float[] x = SparseTestMatrices.Input(new Random(5), inputRows * cols);
            float[] denseY = new float[inputRows * rows];
            MatMul.Compute(x, inputRows, new WeightMatrix(dense.View.Data, DType.F16, rows, cols), denseY, threads: 1);
            foreach (bool marked in new[] { false, true })
            {
                TensorView view = dense.View with { FiniteVerified = marked };
                using var weight = new CpuSparseWeight(n == 0 ? BitmaskSparseMatrix.FromTensor(view) : NMSparseMatrix.FromTensor(view, n, m));
                foreach (bool avx512 in new[] { true, false })
                {
                    float[] y = new float[inputRows * rows];
                    SparseMatMul.RunRange(x, weight, y, inputRows, 0, rows, avx512);
                    for (int i = 0; i < inputRows; i++)
                    {
                        string what = $"{weight.Matrix} n={inputRows} avx512={avx512} marked={marked} input row {i}";
                        if (marked)
                        {
                            // Marked (wrongly, on purpose) they come out finite: proof that the finite conversion served the call.
                            Assert.True(float.IsFinite(y[(i * rows) + 3]) && float.IsFinite(y[(i * rows) + 6]), $"{what}: the finite conversion did not run");
                            continue;
                        }
                        Assert.True(float.IsPositiveInfinity(Math.Abs(y[(i * rows) + 3])) || float.IsNaN(y[(i * rows) + 3]), $"{what}: the Inf weight gave {y[(i * rows) + 3]}");
                        Assert.True(float.IsNaN(y[(i * rows) + 6]), $"{what}: the NaN weight gave {y[(i * rows) + 6]}");
                        Assert.Equal(denseY[(i * rows) + 3], y[(i * rows) + 3]);
                        Assert.True(float.IsNaN(denseY[(i * rows) + 6]), "dense F16 kernel");
                    }
                }
            }
        }
    }

    [Fact]
    public void Dense_F16_round_trips_through_both_formats_bit_for_bit()
    {
        ushort[] bits = ExtremeMatrix(11, 1032, 2, 4, seed: 4);
        bits[5] = 0x7C00;
        bits[9] = 0xFE01; // a NaN with a payload and the sign set: carried as stored bits
        foreach (SparseMatrix matrix in new SparseMatrix[] { BitmaskSparseMatrix.FromDenseF16("w", bits, 11, 1032), NMSparseMatrix.FromDenseF16("w", bits, 11, 1032, 2, 4) })
        {
            using (matrix)
            {
                Assert.Equal(DType.F16, matrix.DType);
                ushort[] back = new ushort[bits.Length];
                matrix.ToDenseRaw(MemoryMarshal.AsBytes(back.AsSpan()));
                Assert.Equal(bits.Select(SignlessZero), back.Select(SignlessZero)); // a −0 is a zero: a dropped one comes back +0
                float[] widened = new float[bits.Length];
                matrix.ToDense(widened);
                Assert.Equal(back.Select(b => (float)BitConverter.UInt16BitsToHalf(b)), widened);
            }
        }
    }

    /// <summary>A matrix of <see cref="Extremes"/> at random places, every group of m columns keeping at most n (n = 0: about half kept).</summary>
    private static ushort[] ExtremeMatrix(int rows, int cols, int n, int m, int seed)
    {
        var rnd = new Random(seed);
        var bits = new ushort[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                bool kept = n == 0 ? rnd.Next(2) == 0 : (c % m) < n;
                bits[(r * cols) + c] = kept ? Extremes[rnd.Next(Extremes.Length)] : (ushort)0;
            }
        }
        return bits;
    }

    private static ushort SignlessZero(ushort bits) => (bits & 0x7FFF) == 0 ? (ushort)0 : bits;

    private static int FirstNonzero(ushort[] bits, int row, int cols)
    {
        for (int c = 0; c < cols; c++)
        {
            if ((bits[(row * cols) + c] & 0x7FFF) != 0)
            {
                return (row * cols) + c;
            }
        }
        throw new InvalidOperationException($"row {row} is all zeros");
    }
}
