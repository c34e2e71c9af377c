using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Copal.Tensors.Kernels;
using Copal.Tensors.Numerics;
using Copal.Tensors.Sparse;
using Copal.Tensors.Tests.Kernels;
using Copal.Tensors.Tests.Sparse;
using Copal.Testing;

namespace Copal.Tensors.Tests.Memory;

/// <summary>
/// Every kernel that reads a borrowed weight, run over weights that end (or start) at an inaccessible page: a read
/// one byte outside the tensor faults. Results are checked against the double reference too, so a kernel that
/// stops short instead of overreading fails as well. Runs in the kernel-path collection: it switches the
/// process-wide SIMD width.
/// </summary>
[Collection(KernelPathCollection.Name)]
public class GuardedKernelTests
{
    /// <summary>Widths off every vector, sliver and block multiple.</summary>
    private static readonly int[] Widths = [1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 129, 191, 193, 255, 257, 4095, 4097];

    private static IEnumerable<bool> Paths()
    {
        yield return false;
        if (Vector512.IsHardwareAccelerated)
        {
            yield return true;
        }
    }

    public static TheoryData<DType, GuardedEdge> DenseCases()
    {
        var data = new TheoryData<DType, GuardedEdge>();
        foreach (DType dtype in Rand.WeightDTypes)
        {
            data.Add(dtype, GuardedEdge.End);
            data.Add(dtype, GuardedEdge.Start);
        }
        return data;
    }

    [LinuxTheory]
    [MemberData(nameof(DenseCases))]
    public unsafe void Dense_matmul_reads_only_the_weight(DType dtype, GuardedEdge edge)
    {
        bool saved = KernelPaths.UseVector512;
        try
        {
            foreach (bool wide in Paths())
            {
                KernelPaths.UseVector512 = wide;
                foreach (int cols in Widths)
                {
                    foreach (int rows in new[] { 1, 3, 5, 33 })
                    {
                        using var stored = new StoredMatrix(dtype, rows, cols, seed: rows * 7919 + cols);
                        using var guarded = new GuardedBytes(new ReadOnlySpan<byte>(stored.Data, rows * cols * dtype.SizeOf()), edge);
                        foreach (bool finite in new[] { false, true })
                        {
                            var w = new WeightMatrix(guarded.Data, dtype, rows, cols) { FiniteVerified = finite };
                            foreach (int n in new[] { 1, 2, 3, 4, 5, 8, 9, 13 })
                            {
                                float[] x = Rand.Floats(n * cols, seed: n + cols);
                                var y = new float[n * rows];
                                foreach (int threads in new[] { 1, 3 })
                                {
                                    y.AsSpan().Fill(float.NaN);
                                    MatMul.Compute(x, n, w, y, threads);
                                    KernelTolerance.AssertSums(y, Reference.MatMul(x, n, stored.Values, rows, cols), cols,
                                        $"{dtype} {edge} {(wide ? "Vector512" : "Vector256")} rows={rows} cols={cols} n={n} threads={threads}");
                                }
                            }
                            var table = new float[rows * cols];
                            Embedding.Lookup(w, Enumerable.Range(0, rows).ToArray(), table);
                            Assert.Equal(stored.Values, table);
                        }
                    }
                }
            }
        }
        finally
        {
            KernelPaths.UseVector512 = saved;
        }
    }

    public static TheoryData<DType, int, int, GuardedEdge> SparseCases()
    {
        var data = new TheoryData<DType, int, int, GuardedEdge>();
        foreach (DType dtype in new[] { DType.F32, DType.BF16, DType.F16 })
        {
            foreach ((int n, int m) in new[] { (0, 0), (2, 4), (4, 8), (3, 8) })
            {
                data.Add(dtype, n, m, GuardedEdge.End);
                data.Add(dtype, n, m, GuardedEdge.Start);
            }
        }
        return data;
    }

    /// <summary>
    /// A compact weight loaded zero-copy from guarded tensors (each part its own mapping), through every kernel:
    /// the AVX-512 and AVX2 GEMVs, the prefill GEMM, densifying. n = 0 is the bitmask.
    /// </summary>
    [LinuxTheory]
    [MemberData(nameof(SparseCases))]
    public void Compact_weight_kernels_read_only_its_tensors(DType dtype, int n, int m, GuardedEdge edge)
    {
        var rnd = new Random(n * 31 + m);
        int[] widths = n == 0 ? Widths : Widths.Select(w => Math.Max(m, w / m * m)).Concat([m, 2 * m, 3 * m, 9 * m, 33 * m]).Distinct().ToArray();
        foreach (int cols in widths)
        {
            foreach (int rows in new[] { 1, 2, 9, 33 })
            {
                foreach (double sparsity in n == 0 ? new[] { 0.0, 0.5, 0.97 } : new[] { 0.5 })
                {
                    byte[] raw = n == 0 ? SparseTestMatrices.Unstructured(rnd, dtype, rows, cols, sparsity) : SparseTestMatrices.NM(rnd, dtype, rows, cols, n, m);
                    foreach (NMIndexEncoding index in n == 0 ? [NMIndexEncoding.Smallest] : new[] { NMIndexEncoding.Smallest, NMIndexEncoding.Fields })
                    {
                        CheckCompact(raw, dtype, rows, cols, n, m, index, edge, rnd);
                    }
                }
            }
        }
    }

    private static void CheckCompact(byte[] raw, DType dtype, int rows, int cols, int n, int m, NMIndexEncoding index, GuardedEdge edge, Random rnd)
    {
        const string name = "model.layers.0.mlp.down_proj.weight";
        using var original = SparseMatMulTests.Make(name, raw, dtype, rows, cols, n, m);
        var encoding = SparseTensorCodec.Encode(original, index);
        var mapped = new List<GuardedBytes>();
        try
        {
            var views = new Dictionary<string, TensorView>();
            foreach (var part in encoding.Parts)
            {
                var guarded = new GuardedBytes(part.Data.Span, edge);
                mapped.Add(guarded);
                views[part.Name] = guarded.View(part.Name, part.DType, part.Shape);
            }
            using var loaded = SparseTensorCodec.Load(name, s => views.TryGetValue(s, out var v) ? v : null, encoding.Metadata);
            using var weight = new CpuSparseWeight(loaded, ownsMatrix: false);
            float[] w = SparseTestMatrices.Widen(raw, dtype);
            string what = $"{loaded} {index} {edge}";
            var dense = new float[rows * cols];
            loaded.ToDense(dense);
            Assert.Equal(w, dense);
            foreach (int inputRows in new[] { 1, 2, 5, 12, 13 })
            {
                float[] x = SparseTestMatrices.Input(rnd, inputRows * cols);
                var expected = SparseTestMatrices.Reference(w, rows, cols, x, inputRows);
                var y = new float[inputRows * rows];
                foreach (int threads in new[] { 1, 3 })
                {
                    y.AsSpan().Fill(float.NaN);
                    SparseMatMul.Run(x, weight, y, inputRows, threads);
                    SparseTestMatrices.AssertMatches(y, expected, $"{what} n={inputRows} threads={threads}");
                }
                if (inputRows == 1)
                {
                    y.AsSpan().Fill(float.NaN);
                    SparseMatMul.RunRange(x, weight, y, 1, 0, rows, allowAvx512: false);
                    SparseTestMatrices.AssertMatches(y, expected, $"{what} AVX2 path");
                }
            }
        }
        finally
        {
            mapped.ForEach(g => g.Dispose());
        }
    }

    public static TheoryData<DType, GuardedEdge> SparseDTypeCases()
    {
        var data = new TheoryData<DType, GuardedEdge>();
        foreach (DType dtype in new[] { DType.F32, DType.BF16, DType.F16 })
        {
            data.Add(dtype, GuardedEdge.End);
            data.Add(dtype, GuardedEdge.Start);
        }
        return data;
    }

    /// <summary>
    /// What reads a dense mapped weight at load: the non-finite scan, the conversion to f32, measuring its sparsity
    /// and converting it to each compact format (the nonzero masks load 64 values at a time).
    /// </summary>
    [LinuxTheory]
    [MemberData(nameof(SparseDTypeCases))]
    public void Dense_weight_scans_and_conversions_read_only_the_weight(DType dtype, GuardedEdge edge)
    {
        var rnd = new Random(3);
        foreach (int cols in Widths.Where(c => c % 4 == 0).Concat([4, 12, 20, 60, 68, 124, 132, 4092, 4100]))
        {
            foreach (int rows in new[] { 1, 3, 9 })
            {
                byte[] raw = SparseTestMatrices.NM(rnd, dtype, rows, cols, 2, 4);
                using var guarded = new GuardedBytes(raw, edge);
                TensorView view = guarded.View("w", dtype, [rows, cols]);
                float[] expected = SparseTestMatrices.Widen(raw, dtype);
                Assert.Equal(-1, NonFinite.IndexOf(view, 0, view.ElementCount));
                var widened = new float[expected.Length];
                FloatConvert.ToSingle(view, widened);
                Assert.Equal(expected, widened);
                Assert.True(SparsityAdvisor.Measure(view).Valid24, $"{dtype} {rows}x{cols} measured as breaking 2:4");
                using var bitmask = BitmaskSparseMatrix.FromTensor(view);
                using var twoFour = NMSparseMatrix.FromTensor(view, 2, 4);
                foreach (SparseMatrix m in new SparseMatrix[] { bitmask, twoFour })
                {
                    var dense = new float[expected.Length];
                    m.ToDense(dense);
                    Assert.Equal(expected, dense);
                }
            }
        }
    }
}
