using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Backends.Ilgpu;
using Copal.Tensors.Tests.Kernels;
using Copal.Testing;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// Every op of a device backend against <see cref="CpuBackend"/>, NMSE ≤ <see cref="Tolerances.BackendNmse"/>, over
/// shapes that include 1, odd sizes and sizes that do not fill a work-group or a tile. One subclass per backend;
/// its <see cref="RequiresDeviceAttribute"/> makes the tests skip where the device is absent.
/// </summary>
public abstract class BackendOpsTests(BackendFixture fixture)
{
    private static readonly CpuBackend s_cpu = new(1);

    private IBackend Backend => fixture.Backend;

    public static TheoryData<DType, int, int, int> MatMulCases()
    {
        var data = new TheoryData<DType, int, int, int>();
        foreach (DType dtype in Rand.WeightDTypes)
        {
            data.Add(dtype, 1, 1, 1);       // a single dot product
            data.Add(dtype, 1, 130, 300);   // GEMV: rows over a 256-thread group, cols not a multiple of it
            data.Add(dtype, 1, 7, 1031);    // GEMV: each thread several columns
            data.Add(dtype, 1, 70, 1000);   // GEMV in 16-byte loads: six octets a lane per step, the last step partial
            data.Add(dtype, 1, 9, 2000);    // … a whole step, then a partial one, in a GPU's 32-lane team too
            data.Add(dtype, 1, 9, 40);      // GEMV in 16-byte loads: fewer octets than one step takes
            data.Add(dtype, 3, 33, 65);     // GEMM: partial tiles everywhere
            data.Add(dtype, 17, 40, 129);   // GEMM: more than one row tile
            data.Add(dtype, 18, 37, 68);    // GEMM: a width that is a multiple of 4 stages each quad in one vector load
            data.Add(dtype, 70, 130, 40);   // GEMM: two row tiles and three output tiles of a GPU's 64 × 64, three depth steps
                                            // (more blocks than the CPU accelerator's groups, which loop over them)
            data.Add(dtype, 65, 64, 16);    // GEMM: one depth step, only the first quads (no prefetch used)
            data.Add(dtype, 5, 39, 72);     // GEMM: outputs one short of whole quads, so a thread's fourth column is past the row
        }
        return data;
    }

    [BackendTheory]
    [MemberData(nameof(MatMulCases))]
    public unsafe void MatMul_matches_cpu(DType dtype, int rows, int outs, int cols)
    {
        using var w = new StoredMatrix(dtype, outs, cols, seed: outs * 31 + cols);
        var view = new TensorView("w", dtype, [outs, cols], w.Data, (long)outs * cols * dtype.SizeOf());
        float[] x = Rand.Floats(rows * cols, 1);
        AssertMatchesCpu($"MatMul {dtype} [{rows}x{cols}]·[{outs}x{cols}]ᵀ", [x, new float[rows * outs]], 1, (b, d) =>
        {
            using DeviceWeight weight = b.LoadWeight(view);
            b.MatMul(d[0], weight, d[1], rows);
        });
    }

    public static TheoryData<string, DType, int, int> FusedMatMulCases()
    {
        var data = new TheoryData<string, DType, int, int>();
        foreach (DType dtype in Rand.WeightDTypes)
        {
            data.Add("dense", dtype, 1, 2000);  // decode: the fused GEMV in 16-byte loads, a whole step and a partial one
            data.Add("dense", dtype, 1, 37);    // decode, a width that is not a multiple of 8
            data.Add("dense", dtype, 3, 40);    // prefill: the plain ops
        }
        foreach (DType dtype in (DType[])[DType.F32, DType.BF16, DType.F16])
        {
            data.Add("2:4", dtype, 1, 2128);    // decode: the fused 2:4 reader in chunks of 16 columns, whole steps and a lone chunk
            data.Add("2:4", dtype, 1, 48);      // … fewer chunks than one step of a warp takes
            data.Add("2:4", dtype, 1, 1000);    // … a width not in whole chunks: read as any N:M
            data.Add("2:4", dtype, 3, 64);      // prefill: the plain ops
            data.Add("4:8", dtype, 1, 264);     // the general N:M reader, 3-bit fields across bytes
            data.Add("bitmask", dtype, 1, 301); // the bitmask reader, a partial last mask word
            data.Add("bitmask", dtype, 2, 64);  // prefill: the plain ops
        }
        return data;
    }

    [BackendTheory]
    [MemberData(nameof(FusedMatMulCases))]
    public void MatMulTriple_matches_cpu_in_all_three_outputs(string format, DType dtype, int rows, int cols)
    {
        int[] outs = [13, 5, 70]; // q, k and v of different widths, so a team's feature can sit in any of them
        using var keep = new TestWeights();
        Func<IBackend, DeviceWeight>[] make = [.. outs.Select((o, i) => keep.Maker(format, dtype, o, cols, seed: i + 1))];
        float[][] inputs = [Rand.Floats(rows * cols, 1), new float[rows * outs[0]], new float[rows * outs[1]], new float[rows * outs[2]]];
        AssertMatchesCpu($"MatMulTriple {format} {dtype} [{rows}x{cols}]", inputs, [1, 2, 3], (b, d) =>
        {
            using DeviceWeight w0 = make[0](b), w1 = make[1](b), w2 = make[2](b);
            b.MatMulTriple(d[0], w0, d[1], w1, d[2], w2, d[3], rows);
        });
    }

    [BackendTheory]
    [MemberData(nameof(FusedMatMulCases))]
    public void MatMulSiluGate_matches_cpu(string format, DType dtype, int rows, int cols)
    {
        const int Outs = 70;
        using var keep = new TestWeights();
        Func<IBackend, DeviceWeight> gate = keep.Maker(format, dtype, Outs, cols, seed: 4), up = keep.Maker(format, dtype, Outs, cols, seed: 5);
        AssertMatchesCpu($"MatMulSiluGate {format} {dtype} [{rows}x{cols}]", [Rand.Floats(rows * cols, 1), new float[rows * Outs], new float[rows * Outs]], 1, (b, d) =>
        {
            using DeviceWeight g = gate(b), u = up(b);
            b.MatMulSiluGate(d[0], g, u, d[1], d[2], rows);
        });
    }

    /// <summary>Weights for the fused matmul tests: dense ones as views of memory this holds, compressed ones as fresh copies per backend.</summary>
    private sealed class TestWeights : IDisposable
    {
        private readonly List<StoredMatrix> _stored = [];

        public unsafe Func<IBackend, DeviceWeight> Maker(string format, DType dtype, int outs, int cols, int seed)
        {
            if (format != "dense")
            {
                int n = format == "bitmask" ? 0 : format[0] - '0', m = format == "bitmask" ? 0 : format[2] - '0';
                byte[] raw = n == 0
                    ? Sparse.SparseTestMatrices.Unstructured(new Random(seed), dtype, outs, cols, 0.7)
                    : Sparse.SparseTestMatrices.NM(new Random(seed), dtype, outs, cols, n, m);
                return b => ((ISparseWeightLoader)b).LoadSparseWeight(Sparse.SparseMatMulTests.Make($"w{seed}", raw, dtype, outs, cols, n, m));
            }
            var stored = new StoredMatrix(dtype, outs, cols, seed);
            _stored.Add(stored);
            return b => b.LoadWeight(new TensorView($"w{seed}", dtype, [outs, cols], stored.Data, (long)outs * cols * dtype.SizeOf()));
        }

        public void Dispose() => _stored.ForEach(m => m.Dispose());
    }

    [BackendFact]
    public unsafe void Fused_matmuls_over_weights_of_mixed_kinds_run_the_plain_ops()
    {
        var rnd = new Random(3);
        const int Outs = 9, Cols = 64;
        byte[] raw = Sparse.SparseTestMatrices.NM(rnd, DType.BF16, Outs, Cols, 2, 4);
        using var dense = new StoredMatrix(DType.BF16, Outs, Cols, seed: 6);
        AssertMatchesCpu("MatMulSiluGate, a 2:4 gate and a dense up", [Rand.Floats(Cols, 1), new float[Outs], new float[Outs]], 1, (b, d) =>
        {
            using DeviceWeight g = ((ISparseWeightLoader)b).LoadSparseWeight(Sparse.SparseMatMulTests.Make("gate", raw, DType.BF16, Outs, Cols, 2, 4));
            using DeviceWeight u = b.LoadWeight(new TensorView("up", DType.BF16, [Outs, Cols], dense.Data, (long)Outs * Cols * 2));
            b.MatMulSiluGate(d[0], g, u, d[1], d[2], 1);
        });
    }

    public static TheoryData<string, DType, int, int, int> SparseMatMulCases() => new()
    {
        { "2:4", DType.BF16, 1, 130, 304 },     // GEMV, a width in whole chunks of 16 columns
        { "2:4", DType.F32, 3, 33, 68 },        // several input rows
        { "2:4", DType.BF16, 1, 64, 2048 },     // the warp-per-feature 2:4 kernel, two chunks a lane a step: whole steps
        { "2:4", DType.F32, 1, 9, 2128 },       // … and a lone chunk
        { "2:4", DType.BF16, 1, 9, 1000 },      // … a width not in whole chunks: the N:M kernel
        { "2:4", DType.BF16, 4, 9, 1000 },      // prefill: the GEMM over the decoding 2:4 view
        { "2:4", DType.BF16, 17, 40, 136 },     // … more than one tile of rows and of outputs
        { "2:4", DType.F32, 5, 9, 2128 },       // … over the chunk kernels' permuted layout, a partial last block
        { "2:4", DType.BF16, 1, 9, 528 },       // decode over the permuted layout, a last block of one chunk
        { "2:4", DType.BF16, 17, 40, 528 },     // … and prefill, more than one tile of rows and of outputs
        { "2:4", DType.F32, 1, 33, 65536 },     // a weight over 4 MB, which the upload permutes a slab of 30 rows at a time (30 + 3)
        { "4:8", DType.BF16, 1, 7, 1032 },      // 3-bit fields that straddle bytes
        { "3:8", DType.F32, 2, 5, 264 },        // prefill: the GEMM over the decoding N:M view
        { "4:8", DType.BF16, 19, 37, 136 },     // … more than one tile of rows and of outputs
        { "bitmask", DType.BF16, 1, 130, 301 }, // a partial last mask word
        { "bitmask", DType.F32, 5, 17, 1031 },  // prefill: the GEMM over the decoding bitmask view
        { "bitmask", DType.BF16, 18, 70, 200 }, // … more than one tile of rows and of outputs
        { "bitmask", DType.BF16, 1, 3, 7 },     // less than one word per row
        { "2:4", DType.F16, 1, 130, 304 },      // F16: decode in chunks of 16 columns
        { "2:4", DType.F16, 1, 9, 1000 },       // … a width not in whole chunks: the N:M kernel
        { "2:4", DType.F16, 4, 9, 1000 },       // … prefill over the decoding 2:4 view
        { "2:4", DType.F16, 17, 40, 528 },      // … prefill over the permuted layout, more than one tile
        { "4:8", DType.F16, 1, 7, 1032 },       // … 3-bit fields that straddle bytes
        { "4:8", DType.F16, 19, 37, 136 },      // … prefill over the decoding N:M view
        { "bitmask", DType.F16, 1, 130, 301 },  // … a partial last mask word
        { "bitmask", DType.F16, 18, 70, 200 },  // … prefill over the decoding bitmask view
        { "bitmask", DType.F16, 1, 3, 7 },      // … less than one word per row
    };

    [BackendTheory]
    [MemberData(nameof(SparseMatMulCases))]
    public void Sparse_MatMul_matches_cpu(string format, DType dtype, int rows, int outs, int cols)
    {
        var rnd = new Random(outs * 7 + cols);
        int n = format == "bitmask" ? 0 : format[0] - '0', m = format == "bitmask" ? 0 : format[2] - '0';
        byte[] raw = n == 0
            ? Sparse.SparseTestMatrices.Unstructured(rnd, dtype, outs, cols, 0.7)
            : Sparse.SparseTestMatrices.NM(rnd, dtype, outs, cols, n, m);
        float[] x = Rand.Floats(rows * cols, 1);
        AssertMatchesCpu($"sparse MatMul {format} {dtype} [{rows}x{cols}]·[{outs}x{cols}]ᵀ", [x, new float[rows * outs]], 1, (b, d) =>
        {
            // Each backend takes ownership of its own copy of the matrix.
            using DeviceWeight weight = ((ISparseWeightLoader)b).LoadSparseWeight(Sparse.SparseMatMulTests.Make("w", raw, dtype, outs, cols, n, m));
            b.MatMul(d[0], weight, d[1], rows);
        });
    }

    [BackendTheory]
    [InlineData(1, 1)]
    [InlineData(3, 37)]
    [InlineData(5, 300)]
    public void AddBias_matches_cpu(int rows, int cols) =>
        AssertMatchesCpu("AddBias", [Rand.Floats(rows * cols, 1), Rand.Floats(cols, 2)], 0, (b, d) => b.AddBias(d[0], d[1], rows, cols));

    [BackendTheory]
    [InlineData(1, 1)]
    [InlineData(3, 257)]
    [InlineData(2, 1000)]
    [InlineData(1, 4099)] // a width that is not a multiple of 4: one element a thread per pass
    [InlineData(1, 4100)] // four quads a thread per pass (dim a multiple of 4) and a tail, in a GPU's group too
    public void RmsNorm_matches_cpu(int rows, int dim) =>
        AssertMatchesCpu("RmsNorm", [Rand.Floats(rows * dim, 1, 3f), Rand.Floats(dim, 2), new float[rows * dim]], 2,
            (b, d) => b.RmsNorm(d[0], d[1], d[2], rows, dim, 1e-5f));

    /// <summary>
    /// Rows whose mean square is far below eps, the second all zeros: eps then decides the scale (a zero row is zeros,
    /// not NaN), which rows of ordinary size, whose mean square outweighs eps 10⁵ times, cannot show.
    /// </summary>
    [BackendTheory]
    [InlineData(67)]   // one element a thread per pass
    [InlineData(4100)] // in quads
    public void RmsNorm_of_rows_smaller_than_eps_matches_cpu(int dim)
    {
        float[] x = Rand.Floats(2 * dim, 1, 1e-3f);
        Array.Clear(x, dim, dim);
        AssertMatchesCpu("RmsNorm of rows smaller than eps", [x, Rand.Floats(dim, 2), new float[2 * dim]], 2,
            (b, d) => b.RmsNorm(d[0], d[1], d[2], 2, dim, 1e-5f));
    }

    [BackendTheory]
    [InlineData(65)]
    [InlineData(68)] // in quads
    public void RmsNorm_in_place_matches_cpu(int dim) =>
        AssertMatchesCpu("RmsNorm in place", [Rand.Floats(3 * dim, 1, 3f), Rand.Floats(dim, 2)], 0,
            (b, d) => b.RmsNorm(d[0], d[1], d[0], 3, dim, 1e-6f));

    [BackendTheory]
    [InlineData(1, 64)]
    [InlineData(3, 257)]
    [InlineData(2, 1000)]
    [InlineData(2, 4099)]
    [InlineData(2, 4100)]
    public void AddRmsNorm_matches_cpu_in_both_outputs(int rows, int dim)
    {
        float[][] inputs = [Rand.Floats(rows * dim, 1, 3f), Rand.Floats(rows * dim, 3), Rand.Floats(dim, 2), new float[rows * dim]];
        // The sum left in x, and the normalized y.
        AssertMatchesCpu("AddRmsNorm", inputs, [0, 3], (b, d) => b.AddRmsNorm(d[0], d[1], d[2], d[3], rows, dim, 1e-5f));
    }

    [BackendFact]
    public void AddRmsNorm_refuses_an_output_that_aliases_the_sum()
    {
        using DeviceBuffer x = Backend.Allocate(8), w = Backend.Allocate(8);
        Assert.Throws<ArgumentException>(() => Backend.AddRmsNorm(x, w, w, x, 1, 8, 1e-5f));
    }

    [BackendTheory]
    [InlineData(1, 4, 2, 8, 5, 8)]       // a decode step, grouped-query
    [InlineData(3, 4, 4, 64, 0, 64)]     // a prompt from the start
    [InlineData(5, 6, 3, 16, 11, 16)]    // a chunk after a short cache
    [InlineData(2, 8, 1, 128, 3, 128)]   // multi-query, a head dim of 128
    [InlineData(3, 4, 2, 128, 7, 96)]    // RoPE over three quarters of each head (Phi-4-mini)
    [InlineData(2, 2, 1, 16, 1, 2)]      // over one pair only
    public void RopeAndStore_matches_cpu_in_every_buffer_it_writes(int rows, int heads, int kvHeads, int headDim, int startPos, int rotaryDim)
    {
        int positions = startPos + rows + 3, half = rotaryDim / 2, kvDim = kvHeads * headDim;
        float[] angles = Rand.Floats(positions * half, 7, 3f);
        // The caches start full of other values, so rows outside startPos.. must come through unchanged.
        float[][] inputs = [Rand.Floats(rows * heads * headDim, 1), Rand.Floats(rows * kvDim, 2), Rand.Floats(rows * kvDim, 3),
            angles.Select(MathF.Cos).ToArray(), angles.Select(MathF.Sin).ToArray(), Rand.Floats(positions * kvDim, 4), Rand.Floats(positions * kvDim, 5)];
        var shape = new AttentionShape(rows, startPos, heads, kvHeads, headDim, 1f, RotaryDim: rotaryDim);
        // q and k rotated in place, the key and value caches.
        AssertMatchesCpu("RopeAndStore", inputs, [0, 1, 5, 6], (b, d) => b.RopeAndStore(d[0], d[1], d[2], d[3], d[4], d[5], d[6], shape));
    }

    [BackendTheory]
    [InlineData(1, 0, 4, 4, 8, 0, 8)]        // a batch of one, the first position
    [InlineData(3, 1, 4, 2, 8, 5, 8)]        // a middle row, grouped-query
    [InlineData(3, 2, 8, 2, 16, 130, 16)]    // the last row over many keys (split over groups where the plan splits)
    [InlineData(2, 1, 2, 1, 128, 300, 128)]  // multi-query, a head dim of 128, more keys than a block
    [InlineData(3, 1, 4, 2, 128, 9, 96)]     // RoPE over three quarters of each head (Phi-4-mini)
    public void BatchRowAttention_matches_cpu_in_the_caches_and_the_output(int batchRows, int row, int heads, int kvHeads, int headDim, int startPos, int rotaryDim)
    {
        int positions = startPos + 4, half = rotaryDim / 2, qDim = heads * headDim, kvDim = kvHeads * headDim;
        float[] angles = Rand.Floats(positions * half, 7, 3f);
        // The caches and the output start full of other values: only the row's cache rows and output row may change.
        float[][] inputs = [Rand.Floats(batchRows * qDim, 1, 2f), Rand.Floats(batchRows * kvDim, 2, 2f), Rand.Floats(batchRows * kvDim, 3),
            angles.Select(MathF.Cos).ToArray(), angles.Select(MathF.Sin).ToArray(), Rand.Floats(positions * kvDim, 4, 2f), Rand.Floats(positions * kvDim, 5),
            Rand.Floats(batchRows * qDim, 6), new float[qDim], new float[kvDim], new float[kvDim], new float[qDim]];
        var shape = new AttentionShape(1, startPos, heads, kvHeads, headDim, 1f / MathF.Sqrt(headDim), RotaryDim: rotaryDim);
        // The key and value caches, the batch's attention output.
        AssertMatchesCpu("BatchRowAttention", inputs, [5, 6, 7], (b, d) =>
            b.BatchRowAttention(d[0], d[1], d[2], row, d[3], d[4], d[5], d[6], d[7], new RowScratch(d[8], d[9], d[10], d[11]), shape));
    }

    [BackendFact]
    public void An_allocation_the_device_cannot_hold_names_its_size_and_the_device()
    {
        // 2^46 floats: 256 TiB, beyond any device and any x86-64 address space (so no overcommit setting allows it).
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => Backend.Allocate(1L << 46));
        Assert.Contains($"{Backend.Info.Kind} device '{Backend.Info.DeviceName}' is out of memory", e.Message, StringComparison.Ordinal);
        Assert.Contains("256.00 TiB for a buffer of 70368744177664 floats did not fit", e.Message, StringComparison.Ordinal);
        using DeviceBuffer after = Backend.Allocate(16); // the backend goes on working
    }

    [BackendFact]
    public void BatchRowAttention_refuses_more_than_one_row()
    {
        using DeviceBuffer a = Backend.Allocate(64), b = Backend.Allocate(64), c = Backend.Allocate(64);
        var scratch = new RowScratch(a, b, c, a);
        Assert.Throws<ArgumentException>(() => Backend.BatchRowAttention(a, b, c, 0, a, b, b, c, a, scratch, new AttentionShape(2, 0, 2, 2, 4, 1f)));
    }

    [BackendTheory]
    [InlineData(1, 1, 2, 0, 2)]
    [InlineData(3, 4, 8, 5, 8)]
    [InlineData(5, 3, 64, 11, 64)]
    [InlineData(5, 3, 64, 11, 48)]
    [InlineData(2, 2, 96, 3, 72)]
    public void Rope_matches_cpu(int rows, int heads, int headDim, int startPos, int rotaryDim)
    {
        int positions = startPos + rows + 3, half = rotaryDim / 2;
        float[] angles = Rand.Floats(positions * half, 7, 3f);
        float[] cos = angles.Select(MathF.Cos).ToArray();
        float[] sin = angles.Select(MathF.Sin).ToArray();
        AssertMatchesCpu("Rope", [Rand.Floats(rows * heads * headDim, 1), cos, sin], 0,
            (b, d) => b.Rope(d[0], d[1], d[2], rows, heads, headDim, rotaryDim, startPos));
    }

    [BackendTheory]
    [InlineData(1, 0, 4, 4, 8)]      // first decode step
    [InlineData(1, 130, 8, 2, 16)]   // decode, grouped-query (split over groups where the plan splits)
    [InlineData(1, 300, 4, 2, 64)]   // decode over more keys than one block (256)
    [InlineData(1, 700, 2, 1, 128)]  // … over several blocks
    [InlineData(3, 254, 2, 1, 32)]   // prefill rows on both sides of a block boundary
    [InlineData(5, 3, 6, 3, 33)]     // prefill after a short cache, odd head dim
    [InlineData(7, 70, 4, 1, 128)]   // chunked prefill, multi-query, head dim above the block size; more rows than groups
    [InlineData(2, 1, 2, 2, 256)]    // the largest head dim the kernel holds
    public void Attention_matches_cpu(int rows, int startPos, int heads, int kvHeads, int headDim)
    {
        int positions = startPos + rows;
        var shape = new AttentionShape(rows, startPos, heads, kvHeads, headDim, 1f / MathF.Sqrt(headDim));
        AssertMatchesCpu($"Attention {shape}",
            [Rand.Floats(rows * heads * headDim, 1, 2f), Rand.Floats(positions * kvHeads * headDim, 2, 2f),
             Rand.Floats(positions * kvHeads * headDim, 3), new float[rows * heads * headDim]], 3,
            (b, d) => b.Attention(d[0], d[1], d[2], d[3], shape));
    }

    [BackendTheory]
    [InlineData(1, 130, 8, 2, 16, 100)]  // decode under a window (split over groups where the plan splits)
    [InlineData(1, 700, 2, 1, 128, 300)] // decode, a window over more keys than a block
    [InlineData(1, 40, 4, 4, 8, 9)]      // decode, a window shorter than a block
    [InlineData(7, 70, 4, 1, 128, 20)]   // chunked prefill: each row's window starts one key later
    [InlineData(5, 3, 6, 3, 33, 4)]      // prefill after a short cache, odd head dim (the scalar kernel)
    public void Attention_under_a_sliding_window_matches_cpu(int rows, int startPos, int heads, int kvHeads, int headDim, int window)
    {
        int positions = startPos + rows;
        var shape = new AttentionShape(rows, startPos, heads, kvHeads, headDim, 1f / MathF.Sqrt(headDim), window);
        AssertMatchesCpu($"Attention {shape}",
            [Rand.Floats(rows * heads * headDim, 1, 2f), Rand.Floats(positions * kvHeads * headDim, 2, 2f),
             Rand.Floats(positions * kvHeads * headDim, 3), new float[rows * heads * headDim]], 3,
            (b, d) => b.Attention(d[0], d[1], d[2], d[3], shape));
    }

    [BackendTheory]
    [InlineData(1, 300, 4, 2, 64, 100, 150)]  // decode: a cache that starts at 150 (a slid window's)
    [InlineData(5, 40, 6, 3, 33, 12, 29)]     // rows past a slid cache's start (its first key), odd head dim
    public void Attention_over_a_cache_that_starts_past_0_matches_cpu_and_the_whole_cache(int rows, int startPos, int heads, int kvHeads, int headDim, int window, int cacheStart)
    {
        int positions = startPos + rows, kvDim = kvHeads * headDim;
        float[] k = Rand.Floats(positions * kvDim, 2, 2f), v = Rand.Floats(positions * kvDim, 3);
        float[] q = Rand.Floats(rows * heads * headDim, 1, 2f);
        var whole = new AttentionShape(rows, startPos, heads, kvHeads, headDim, 1f / MathF.Sqrt(headDim), window);
        AttentionShape slid = whole with { CacheStart = cacheStart };
        float[][] dropped = [q, k[(cacheStart * kvDim)..], v[(cacheStart * kvDim)..], new float[q.Length]];
        float[] actual = AssertMatchesCpu($"Attention {slid}", dropped, 3, (b, d) => b.Attention(d[0], d[1], d[2], d[3], slid));
        // The cache that dropped its first positions gives what the whole one gives.
        float[] expected = Run(s_cpu, [q, k, v, new float[q.Length]], 3, (b, d) => b.Attention(d[0], d[1], d[2], d[3], whole));
        Tolerances.AssertClose(actual, expected, what: "attention over a slid cache");
        Assert.Throws<ArgumentException>(() => Run(Backend, dropped, 3, (b, d) => b.Attention(d[0], d[1], d[2], d[3], slid with { CacheStart = whole.FirstKey(0) + 1 })));
    }

    [BackendFact]
    public void RopeAndStore_into_a_cache_that_starts_past_0_writes_the_rows_of_its_positions()
    {
        const int rows = 3, startPos = 20, heads = 4, kvHeads = 2, headDim = 16, cacheStart = 9, held = 16;
        int positions = startPos + rows + 3, half = headDim / 2, kvDim = kvHeads * headDim;
        float[] angles = Rand.Floats(positions * half, 7, 3f);
        float[][] inputs = [Rand.Floats(rows * heads * headDim, 1), Rand.Floats(rows * kvDim, 2), Rand.Floats(rows * kvDim, 3),
            angles.Select(MathF.Cos).ToArray(), angles.Select(MathF.Sin).ToArray(), Rand.Floats(held * kvDim, 4), Rand.Floats(held * kvDim, 5)];
        var shape = new AttentionShape(rows, startPos, heads, kvHeads, headDim, 1f, Window: 8, CacheStart: cacheStart);
        AssertMatchesCpu("RopeAndStore", inputs, [0, 1, 5, 6], (b, d) => b.RopeAndStore(d[0], d[1], d[2], d[3], d[4], d[5], d[6], shape));
        // Position 20 goes to row 11 of a cache that starts at 9, rotated by position 20's angles.
        float[][] written = Run(Backend, inputs, [1, 5], (b, d) => b.RopeAndStore(d[0], d[1], d[2], d[3], d[4], d[5], d[6], shape));
        float[] k = written[0], cache = written[1];
        Assert.Equal(k, cache[((startPos - cacheStart) * kvDim)..((startPos - cacheStart + rows) * kvDim)]);
        Assert.Equal(inputs[5][..((startPos - cacheStart) * kvDim)], cache[..((startPos - cacheStart) * kvDim)]);
    }

    [BackendFact]
    public void Copy_between_buffers_matches_cpu() =>
        AssertMatchesCpu("Copy", [Rand.Floats(300, 1), Rand.Floats(500, 2)], 1, (b, d) => b.Copy(d[0], 17, d[1], 101, 263));

    [BackendFact]
    public void Copy_within_one_buffer_matches_cpu() =>
        AssertMatchesCpu("Copy within", [Rand.Floats(700, 1)], 0, (b, d) => b.Copy(d[0], 3, d[0], 400, 297));

    [BackendFact]
    public void Copy_of_overlapping_ranges_in_one_buffer_throws()
    {
        using DeviceBuffer buffer = Backend.Allocate(100);
        Assert.Throws<ArgumentException>(() => Backend.Copy(buffer, 0, buffer, 10, 50));
    }

    [BackendTheory]
    [InlineData(1)]
    [InlineData(1000)]
    public void SiluMul_matches_cpu(int count) =>
        AssertMatchesCpu("SiluMul", [Rand.Floats(count, 1, 6f), Rand.Floats(count, 2), new float[count]], 2,
            (b, d) => b.SiluMul(d[0], d[1], d[2], count));

    [BackendFact]
    public void SiluMul_into_gate_matches_cpu() =>
        AssertMatchesCpu("SiluMul aliased", [Rand.Floats(333, 1, 6f), Rand.Floats(333, 2)], 0, (b, d) => b.SiluMul(d[0], d[1], d[0], 333));

    [BackendTheory]
    [InlineData(1)]
    [InlineData(1000)]
    public void GeluTanhMul_matches_cpu(int count) =>
        AssertMatchesCpu("GeluTanhMul", [Rand.Floats(count, 3, 8f), Rand.Floats(count, 4), new float[count]], 2,
            (b, d) => b.GeluTanhMul(d[0], d[1], d[2], count));

    [BackendFact]
    public void GeluTanhMul_into_gate_matches_the_scalar_reference()
    {
        // Against PyTorch's formula itself, not only the CPU backend: a shared mistake of both would pass the other test.
        float[] g = Rand.Floats(333, 5, 8f), u = Rand.Floats(333, 6);
        float[] actual = Run(Backend, [g, u], 0, (b, d) => b.GeluTanhMul(d[0], d[1], d[0], 333));
        Tolerances.AssertClose(actual, Reference.GeluTanhMul(g, u), what: "GeluTanhMul aliased");
    }

    [BackendTheory]
    [InlineData(1)]
    [InlineData(1000)]
    public void Add_matches_cpu(int count) =>
        AssertMatchesCpu("Add", [Rand.Floats(count, 1), Rand.Floats(count, 2), new float[count]], 2, (b, d) => b.Add(d[0], d[1], d[2], count));

    [BackendFact]
    public void Add_into_second_input_matches_cpu() =>
        AssertMatchesCpu("Add aliased", [Rand.Floats(257, 1), Rand.Floats(257, 2)], 1, (b, d) => b.Add(d[0], d[1], d[1], 257));

    /// <summary>One f32 product per element, exactly rounded on every backend; elements past count stay as they were.</summary>
    [BackendTheory]
    [InlineData(1)]
    [InlineData(1000)]
    public void Scale_multiplies_the_first_count_elements_in_place_exactly(int count)
    {
        float[] x = Rand.Floats(count + 7, 1, 4f);
        using DeviceBuffer buffer = Backend.Allocate(x.Length);
        Backend.Upload(x, buffer);
        Backend.Scale(buffer, 0.0078125f * 3, count);
        var actual = new float[x.Length];
        Backend.Download(buffer, actual);
        float[] expected = [.. x.Select((v, i) => i < count ? v * (0.0078125f * 3) : v)];
        Assert.Equal(expected, actual);
    }

    public static TheoryData<DType> WeightDTypes() => new(Rand.WeightDTypes);

    [BackendTheory]
    [MemberData(nameof(WeightDTypes))]
    public unsafe void Embedding_matches_cpu(DType dtype)
    {
        const int vocab = 11, dim = 37;
        int[] tokens = [3, 0, 10, 3, 7];
        using var table = new StoredMatrix(dtype, vocab, dim, seed: 5);
        var view = new TensorView("embed", dtype, [vocab, dim], table.Data, (long)vocab * dim * dtype.SizeOf());
        AssertMatchesCpu($"Embedding {dtype}", [new float[tokens.Length * dim]], 0, (b, d) =>
        {
            using DeviceWeight weight = b.LoadWeight(view);
            b.Embedding(weight, tokens, d[0]);
        });
    }

    [BackendFact]
    public unsafe void Embedding_of_a_token_outside_the_table_throws()
    {
        using var table = new StoredMatrix(DType.F32, 4, 3, seed: 5);
        using DeviceWeight weight = Backend.LoadWeight(new TensorView("embed", DType.F32, [4, 3], table.Data, 48));
        using DeviceBuffer output = Backend.Allocate(6);
        Assert.Throws<ArgumentOutOfRangeException>(() => Backend.Embedding(weight, [1, 4], output));
    }

    [BackendTheory]
    [InlineData(1, 1)]
    [InlineData(2, 5)]
    [InlineData(3, 1000)]
    public void Softmax_matches_cpu(int rows, int cols) =>
        AssertMatchesCpu("Softmax", [Rand.Floats(rows * cols, 1, 20f)], 0, (b, d) => b.Softmax(d[0], rows, cols));

    /// <summary>
    /// Logits up to ±500, where exp overflows a float (above 88.7): only the row's maximum subtracted first keeps the
    /// exponentials finite, which logits of ±20 cannot show.
    /// </summary>
    [BackendTheory]
    [InlineData(2, 5)]
    [InlineData(3, 1000)]
    public void Softmax_of_logits_past_the_range_of_exp_matches_cpu(int rows, int cols) =>
        AssertMatchesCpu("Softmax of large logits", [Rand.Floats(rows * cols, 1, 500f)], 0, (b, d) => b.Softmax(d[0], rows, cols));

    /// <summary>
    /// A count within a group of 2^31 is refused before anything runs: an auto-grouped launch pads its last group
    /// past the count, and on CUDA those threads' 32-bit indices would wrap negative, pass ILGPU's signed bounds
    /// test and write before the buffer (the CPU accelerator never runs them, so only the limit can be tested here).
    /// </summary>
    [BackendFact]
    public void Element_counts_stop_a_whole_group_short_of_2_to_the_31()
    {
        using DeviceBuffer x = Backend.Allocate(4);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Backend.Scale(x, 2f, int.MaxValue - 100));
        Assert.Contains($"Scale: {int.MaxValue - 100} elements; the kernels take 0 to {IlgpuBackend.MaxElements}", e.Message, StringComparison.Ordinal);
        Assert.Equal((1L << 31) - 1024, IlgpuBackend.MaxElements);
    }

    [BackendFact]
    public void RmsNorm_of_a_row_with_a_nan_is_nan_and_ends()
    {
        float[] x = Rand.Floats(2 * 300, 1, 5f);
        x[17] = float.NaN;
        using DeviceBuffer buffer = Backend.Allocate(x.Length), weight = Backend.Allocate(300), y = Backend.Allocate(x.Length);
        Backend.Upload(x, buffer);
        Backend.Upload(Rand.Floats(300, 2), weight);
        Backend.RmsNorm(buffer, weight, y, 2, 300, 1e-5f);
        var actual = new float[x.Length];
        Backend.Download(y, actual);
        Assert.All(actual[..300], v => Assert.True(float.IsNaN(v)));
        Assert.All(actual[300..], v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>
    /// A NaN in a row gives NaN, as on the CPU, and the launch ends: a group maximum built on a compare-and-swap loop
    /// never ends on NaN, since NaN equals nothing, itself included.
    /// </summary>
    [BackendFact]
    public void Softmax_of_a_row_with_a_nan_is_nan_and_ends()
    {
        float[] x = Rand.Floats(2 * 300, 1, 5f);
        x[17] = float.NaN;
        using DeviceBuffer buffer = Backend.Allocate(x.Length);
        Backend.Upload(x, buffer);
        Backend.Softmax(buffer, 2, 300);
        var actual = new float[x.Length];
        Backend.Download(buffer, actual);
        Assert.All(actual[..300], v => Assert.True(float.IsNaN(v)));
        Assert.All(actual[300..], v => Assert.True(float.IsFinite(v)));
    }

    [BackendTheory]
    [InlineData(1, 1)]
    [InlineData(5, 7)]
    [InlineData(37, 40)]
    public void AccumulateGram_adds_to_existing_sums_like_cpu(int rows, int cols) =>
        AssertMatchesCpu("AccumulateGram", [Rand.Floats(rows * cols, 1), Rand.Floats(cols * cols, 2)], 1, (b, d) =>
        {
            b.AccumulateGram(d[0], rows, cols, d[1]);
            b.AccumulateGram(d[0], rows, cols, d[1]);
        });

    [BackendTheory]
    [InlineData(1, 1)]
    [InlineData(5, 7)]
    [InlineData(33, 300)]
    public void AccumulateColumnSquares_adds_to_existing_sums_like_cpu(int rows, int cols) =>
        AssertMatchesCpu("AccumulateColumnSquares", [Rand.Floats(rows * cols, 1), Rand.Floats(cols, 2)], 1,
            (b, d) => b.AccumulateColumnSquares(d[0], rows, cols, d[1]));

    [BackendFact]
    public void Allocate_is_zeroed_and_transfers_respect_offsets()
    {
        using DeviceBuffer buffer = Backend.Allocate(10);
        var all = new float[10];
        Backend.Download(buffer, all);
        Assert.All(all, v => Assert.Equal(0f, v));

        Backend.Upload([1f, 2f, 3f], buffer, destinationOffset: 6);
        var tail = new float[4];
        Backend.Download(buffer, tail, sourceOffset: 6);
        Assert.Equal([1f, 2f, 3f, 0f], tail);
        Assert.Throws<ArgumentOutOfRangeException>(() => Backend.Upload([1f, 2f], buffer, destinationOffset: 9));
    }

    [BackendTheory]
    [MemberData(nameof(WeightDTypes))]
    public unsafe void LoadVector_converts_to_f32(DType dtype)
    {
        using var stored = new StoredMatrix(dtype, 1, 19, seed: 9);
        using DeviceBuffer vector = Backend.LoadVector(new TensorView("norm", dtype, [19], stored.Data, 19L * dtype.SizeOf()));
        var values = new float[19];
        Backend.Download(vector, values);
        Assert.Equal(stored.Values, values);
    }

    [BackendFact]
    public void A_buffer_of_another_backend_is_rejected()
    {
        using DeviceBuffer foreign = s_cpu.Allocate(4);
        using DeviceBuffer own = Backend.Allocate(4);
        Assert.Throws<ArgumentException>(() => Backend.Add(foreign, own, own, 4));
    }

    [BackendFact]
    public void The_device_timer_times_queued_ops_and_leaves_their_results_alone()
    {
        var timer = Assert.IsAssignableFrom<IDeviceTimer>(Backend);
        Assert.Throws<InvalidOperationException>(() => timer.End());
        float[] a = Rand.Floats(1000, 1), b = Rand.Floats(1000, 2);
        using DeviceBuffer x = Backend.Allocate(a.Length), y = Backend.Allocate(b.Length);
        Backend.Upload(a, x);
        Backend.Upload(b, y);
        for (int span = 0; span < 3; span++) // the first span calibrates the hold on a GPU
        {
            timer.Begin();
            Assert.Throws<InvalidOperationException>(timer.Begin);
            Backend.Add(x, y, x, a.Length);
            DeviceTiming timing = timer.End();
            Assert.True(timing.DeviceSeconds > 0 && double.IsFinite(timing.DeviceSeconds), $"span {span}: {timing.DeviceSeconds} s");
        }
        var sum = new float[a.Length];
        Backend.Download(x, sum);
        Assert.Equal(a.Select((v, i) => v + b[i] + b[i] + b[i]), sum);
    }

    [BackendTheory]
    [InlineData(1)]       // one quad: every other thread reads nothing
    [InlineData(1000)]    // fewer quads than four per thread of a GPU-sized launch: the tail loop only
    [InlineData(70_001)]  // the four-load body several times a thread, then a tail
    public void The_streaming_read_kernel_reads_every_quad_exactly_once(int quads)
    {
        IlgpuBackend ilgpu = Assert.IsType<IlgpuBackend>(Backend);
        var random = new Random(quads);
        uint[] words = [.. Enumerable.Range(0, 4 * quads).Select(_ => (uint)random.NextInt64(1L << 32))];
        // A quad read twice cancels out of the XOR and a quad skipped is missing from it.
        Assert.Equal(words.Aggregate(0u, (a, b) => a ^ b), ilgpu.StreamReadChecksum(words));
    }

    [BackendFact]
    public void The_memory_probe_gives_a_finite_read_rate_and_refuses_an_empty_buffer()
    {
        var probe = Assert.IsAssignableFrom<IDeviceMemoryProbe>(Backend);
        double rate = probe.MeasureReadBytesPerSecond(1L << 20, rounds: 2);
        Assert.True(rate > 0 && double.IsFinite(rate), $"{rate} bytes/s");
        Assert.Throws<ArgumentOutOfRangeException>(() => probe.MeasureReadBytesPerSecond(8, rounds: 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => probe.MeasureReadBytesPerSecond(1L << 20, rounds: 0));
    }

    /// <summary>
    /// Runs <paramref name="op"/> on the CPU and on the backend from the same inputs and compares buffer
    /// <paramref name="output"/>. Also checks that the op changed that buffer, so a kernel that writes nothing fails.
    /// </summary>
    private float[] AssertMatchesCpu(string what, float[][] inputs, int output, Action<IBackend, DeviceBuffer[]> op) =>
        AssertMatchesCpu(what, inputs, [output], op)[0];

    /// <summary>
    /// The same for an op that writes several buffers: one run on each backend, then every buffer in
    /// <paramref name="outputs"/> compared (a run costs seconds on the CPU accelerator with a GPU's 256-thread groups).
    /// </summary>
    /// <returns>The backend's buffers, for further checks.</returns>
    private float[][] AssertMatchesCpu(string what, float[][] inputs, int[] outputs, Action<IBackend, DeviceBuffer[]> op)
    {
        float[][] expected = Run(s_cpu, inputs, outputs, op);
        float[][] actual = Run(Backend, inputs, outputs, op);
        for (int i = 0; i < outputs.Length; i++)
        {
            string buffer = outputs.Length == 1 ? what : $"{what} buffer {outputs[i]}";
            Assert.False(expected[i].AsSpan().SequenceEqual(inputs[outputs[i]]), $"{buffer}: the CPU reference left the output unchanged");
            Tolerances.AssertNmse(actual[i], expected[i], what: buffer);
        }
        return actual;
    }

    private static float[] Run(IBackend backend, float[][] inputs, int output, Action<IBackend, DeviceBuffer[]> op) =>
        Run(backend, inputs, [output], op)[0];

    /// <summary>Runs <paramref name="op"/> once on <paramref name="backend"/> and reads back each buffer in <paramref name="outputs"/>.</summary>
    private static float[][] Run(IBackend backend, float[][] inputs, int[] outputs, Action<IBackend, DeviceBuffer[]> op)
    {
        var buffers = new DeviceBuffer[inputs.Length];
        try
        {
            for (int i = 0; i < inputs.Length; i++)
            {
                buffers[i] = backend.Allocate(inputs[i].Length);
                backend.Upload(inputs[i], buffers[i]);
            }
            op(backend, buffers);
            return outputs.Select(o =>
            {
                var result = new float[inputs[o].Length];
                backend.Download(buffers[o], result);
                return result;
            }).ToArray();
        }
        finally
        {
            foreach (DeviceBuffer? buffer in buffers)
            {
                buffer?.Dispose();
            }
        }
    }
}

/// <summary>The ILGPU kernels on the CPU accelerator as users get it (one-thread groups).</summary>
public sealed class IlgpuCpuBackendOpsTests(IlgpuCpuFixture fixture) : BackendOpsTests(fixture), IClassFixture<IlgpuCpuFixture>;

/// <summary>The ILGPU kernels on the CPU accelerator with GPU-like groups: tiles, barriers, shuffles and reductions run.</summary>
public sealed class IlgpuCpuGroupsBackendOpsTests(IlgpuCpuGroupsFixture fixture) : BackendOpsTests(fixture), IClassFixture<IlgpuCpuGroupsFixture>
{
    [Fact]
    public void The_groups_are_really_multi_threaded()
    {
        var plan = ((Copal.Tensors.Backends.Ilgpu.IlgpuBackend)fixture.Backend).Plan;
        Assert.Equal(16, plan.RowGroup);
        Assert.Equal(4, plan.GemmThreads);
        Assert.Equal(16, plan.AttentionGroup);
        // The decode cases of Attention_matches_cpu over 131, 301 and 701 keys split over groups here.
        Assert.Equal(3, plan.AttentionSplits(heads: 8, keys: 131));
        Assert.Equal(5, plan.AttentionSplits(heads: 4, keys: 301));
        Assert.Equal(11, plan.AttentionSplits(heads: 2, keys: 701));
        Assert.Equal(1, plan.AttentionSplits(heads: 4, keys: 64));
    }
}

/// <summary>
/// The ILGPU kernels on the CPU accelerator with a GPU's geometry: 256-thread groups of 32-lane warps, the groups
/// and warps <c>LaunchPlan</c> gives CUDA, so no kernel meets its GPU group and warp sizes first on a GPU.
/// </summary>
public sealed class IlgpuCpuGpuGroupsBackendOpsTests(IlgpuCpuGpuGroupsFixture fixture) : BackendOpsTests(fixture), IClassFixture<IlgpuCpuGpuGroupsFixture>
{
    [Fact]
    public void The_groups_and_warps_are_a_gpus()
    {
        var backend = (Copal.Tensors.Backends.Ilgpu.IlgpuBackend)fixture.Backend;
        Assert.Equal(32, backend.WarpSize);
        Assert.Equal(256, backend.Plan.RowGroup);
        Assert.Equal(16, backend.Plan.GemmThreads);
        Assert.Equal(256, backend.Plan.AttentionGroup);
        // Decode attention splits here from 64 keys, as in the 16-thread class.
        Assert.Equal(3, backend.Plan.AttentionSplits(heads: 8, keys: 131));
    }
}

[RequiresDevice(DeviceKind.OpenCL)]
public sealed class OpenCLBackendOpsTests(OpenCLFixture fixture) : BackendOpsTests(fixture), IClassFixture<OpenCLFixture>;

[RequiresDevice(DeviceKind.Cuda)]
public sealed class CudaBackendOpsTests(CudaFixture fixture) : BackendOpsTests(fixture), IClassFixture<CudaFixture>;
