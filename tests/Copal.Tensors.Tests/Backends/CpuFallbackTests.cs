using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Backends.Ilgpu;
using Copal.Tensors.Tests.Kernels;
using Copal.Testing;

namespace Copal.Tensors.Tests.Backends;

public class CpuFallbackTests
{
    [Fact]
    public void A_missing_op_runs_on_the_cpu_and_is_logged_once()
    {
        var log = new List<string>();
        using IBackend backend = CpuFallbackBackend.Wrap(new WithoutSoftmax(), () => new CpuBackend(1));
        backend.Log = log.Add;
        Assert.IsType<CpuFallbackBackend>(backend);

        float[] input = Rand.Floats(2 * 9, 1, 5f);
        float[] first = SoftmaxOn(backend, input);
        float[] second = SoftmaxOn(backend, input);

        Tolerances.AssertNmse(first, CpuSoftmax(input), what: "fallback softmax");
        Assert.Equal(first, second);
        Assert.Single(log);
        Assert.Contains("Softmax", log[0], StringComparison.Ordinal);
        Assert.Contains("CPU", log[0], StringComparison.Ordinal);
    }

    [Fact]
    public void A_backend_with_every_op_is_not_wrapped()
    {
        var complete = new WithoutSoftmax(missing: null);
        Assert.Same(complete, CpuFallbackBackend.Wrap(complete, () => new CpuBackend(1)));
    }

    [Fact]
    public unsafe void A_disabled_device_op_falls_back_with_device_buffers_and_weights()
    {
        var log = new List<string>();
        IlgpuBackend device = IlgpuDevices.OpenCpu();
        device.Disable(BackendOp.MatMul);
        using IBackend backend = CpuFallbackBackend.Wrap(device, () => new CpuBackend(1));
        backend.Log = log.Add;
        Assert.Throws<NotSupportedException>(() => device.MatMul(null!, null!, null!, 1));

        using var w = new StoredMatrix(DType.BF16, 5, 7, seed: 3);
        var view = new TensorView("w", DType.BF16, [5, 7], w.Data, 70);
        float[] x = Rand.Floats(2 * 7, 1);
        using DeviceWeight weight = backend.LoadWeight(view);
        using DeviceBuffer xb = backend.Allocate(14), yb = backend.Allocate(10);
        backend.Upload(x, xb);
        backend.MatMul(xb, weight, yb, 2);
        backend.Add(yb, yb, yb, 10);   // still on the device, reading the fallback's output
        var y = new float[10];
        backend.Download(yb, y);

        var expected = new float[10];
        for (int r = 0; r < 2; r++)
        {
            for (int o = 0; o < 5; o++)
            {
                double sum = 0;
                for (int c = 0; c < 7; c++)
                {
                    sum += (double)x[r * 7 + c] * w.Values[o * 7 + c];
                }
                expected[r * 5 + o] = (float)(2 * sum);
            }
        }
        Tolerances.AssertNmse(y, expected, what: "fallback matmul then device add");
        Assert.Single(log);
        Assert.Contains("MatMul", log[0], StringComparison.Ordinal);
    }

    /// <summary>
    /// A device with MatMul but without Embedding still keeps a CPU copy of each weight it loads: the fallback looks the
    /// rows up there, rather than fail on a weight it has no CPU side of.
    /// </summary>
    [Fact]
    public unsafe void A_device_without_embedding_looks_the_rows_up_on_the_cpu()
    {
        var log = new List<string>();
        IlgpuBackend device = IlgpuDevices.OpenCpu();
        device.Disable(BackendOp.Embedding);
        using IBackend backend = CpuFallbackBackend.Wrap(device, () => new CpuBackend(1));
        backend.Log = log.Add;
        using var w = new StoredMatrix(DType.BF16, 5, 7, seed: 3);
        using DeviceWeight table = backend.LoadWeight(new TensorView("embed", DType.BF16, [5, 7], w.Data, 70));
        using DeviceBuffer rows = backend.Allocate(14);
        backend.Embedding(table, [3, 0], rows);
        var got = new float[14];
        backend.Download(rows, got);
        Assert.Equal([.. w.Values.Skip(21).Take(7), .. w.Values.Take(7)], got);
        Assert.Contains("Embedding", Assert.Single(log), StringComparison.Ordinal);
    }

    /// <summary>
    /// A device's fused projection kernel stands for the plain ops: where the device lacks one of them (MatMul, or the
    /// gate's SiluMul) the fused op runs as the plain ops, the missing one on the CPU, not as the device's own kernel.
    /// </summary>
    [Theory]
    [InlineData(BackendOp.MatMul)]
    [InlineData(BackendOp.SiluMul)]
    public unsafe void A_device_without_an_op_a_fused_projection_stands_for_runs_the_plain_ops(BackendOp missing)
    {
        var log = new List<string>();
        IlgpuBackend device = IlgpuDevices.OpenCpu();
        device.Disable(missing);
        using IBackend backend = CpuFallbackBackend.Wrap(device, () => new CpuBackend(1));
        backend.Log = log.Add;
        using var cpu = new CpuBackend(1);
        using var gate = new StoredMatrix(DType.F32, 5, 7, seed: 3);
        using var up = new StoredMatrix(DType.F32, 5, 7, seed: 4);
        float[] input = Rand.Floats(14, 1);
        float[] Run(IBackend on)
        {
            using DeviceWeight g = on.LoadWeight(new TensorView("gate", DType.F32, [5, 7], gate.Data, 140));
            using DeviceWeight u = on.LoadWeight(new TensorView("up", DType.F32, [5, 7], up.Data, 140));
            using DeviceBuffer x = on.Allocate(14), y0 = on.Allocate(10), y1 = on.Allocate(10), y2 = on.Allocate(10);
            on.Upload(input, x);
            on.MatMulTriple(x, g, y0, u, y1, g, y2, 2);
            on.MatMulSiluGate(x, g, u, y0, y1, 2);
            var gated = new float[10];
            on.Download(y0, gated);
            return gated;
        }
        // silu(x · gateᵀ) · (x · upᵀ), computed here.
        var expected = new float[10];
        for (int r = 0; r < 2; r++)
        {
            for (int o = 0; o < 5; o++)
            {
                double g = 0, u = 0;
                for (int c = 0; c < 7; c++)
                {
                    g += (double)input[r * 7 + c] * gate.Values[o * 7 + c];
                    u += (double)input[r * 7 + c] * up.Values[o * 7 + c];
                }
                expected[r * 5 + o] = (float)(g / (1 + Math.Exp(-g)) * u);
            }
        }
        Tolerances.AssertNmse(Run(backend), expected, what: $"MatMulSiluGate without {missing}");
        Tolerances.AssertNmse(Run(cpu), expected, what: "MatMulSiluGate on the cpu");
        Assert.StartsWith($"{missing} is not implemented", Assert.Single(log), StringComparison.Ordinal);
    }

    /// <summary>The fused ops' buffer checks: a batch row below 0, and y aliasing the delta AddRmsNorm adds.</summary>
    [Fact]
    public void The_fused_ops_refuse_a_row_below_zero_and_an_output_that_aliases_an_input()
    {
        Assert.Equal("row", Assert.Throws<ArgumentException>(() => FusedOps.CheckBatchRow(-1, new AttentionShape(Rows: 1, StartPos: 0, Heads: 1, KvHeads: 1, HeadDim: 2, Scale: 1f))).ParamName);
        using var cpu = new CpuBackend(1);
        using DeviceBuffer x = cpu.Allocate(4), delta = cpu.Allocate(4), y = cpu.Allocate(4);
        FusedOps.CheckAddRmsNormBuffers(x, delta, y);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => FusedOps.CheckAddRmsNormBuffers(x, delta, delta)).ParamName);
        Assert.Equal("y", Assert.Throws<ArgumentException>(() => FusedOps.CheckAddRmsNormBuffers(x, delta, x)).ParamName);
    }

    [Fact]
    public void A_device_without_a_fused_op_runs_the_ops_it_stands_for_each_where_it_can()
    {
        var log = new List<string>();
        using IBackend backend = IlgpuCpuWithout(log, BackendOp.RopeAndStore, BackendOp.Rope);
        var cpu = new CpuBackend(1);
        float[] Run(IBackend b)
        {
            using var t = new AttentionInputs(b);
            t.Backend.RopeAndStore(t.Q, t.K, t.V, t.Cos, t.Sin, t.KCache, t.VCache, new AttentionShape(Rows: 2, StartPos: 1, Heads: 4, KvHeads: 2, HeadDim: 8, Scale: 1f));
            return t.Read(t.Q);
        }
        Tolerances.AssertNmse(Run(backend), Run(cpu), what: "RopeAndStore with Rope on the CPU and the copies on the device");
        Assert.Single(log);
        Assert.Contains("Rope", log[0], StringComparison.Ordinal);
    }

    /// <summary>
    /// Once a sliding-window cache has slid (CacheStart 1), the composed op stores the keys and values at the cache row
    /// of their position (StartPos − CacheStart), as the device's own kernel does, not at row StartPos.
    /// </summary>
    [Fact]
    public void A_device_without_the_fused_op_stores_a_slid_windows_keys_at_their_cache_row()
    {
        var log = new List<string>();
        using IBackend composed = IlgpuCpuWithout(log, BackendOp.RopeAndStore);
        using IBackend fused = IlgpuDevices.OpenCpu();
        var slid = new AttentionShape(Rows: 1, StartPos: 2, Heads: 4, KvHeads: 2, HeadDim: 8, Scale: 1f, Window: 2, CacheStart: 1);
        float[] Run(IBackend b)
        {
            using var t = new AttentionInputs(b);
            b.RopeAndStore(t.Q, t.K, t.V, t.Cos, t.Sin, t.KCache, t.VCache, slid);
            return t.Read(t.Q);
        }
        float[] got = Run(composed), expected = Run(fused);
        Tolerances.AssertNmse(got, expected, what: "RopeAndStore composed on a slid window's caches");
        using (var untouched = new AttentionInputs(composed))
        {
            float[] before = untouched.Read(untouched.Q);
            // Row 2 of each cache (the position's row were the cache not slid) keeps what it held.
            Assert.Equal(before.AsSpan(64 + 32, 16).ToArray(), got.AsSpan(64 + 32, 16).ToArray());
            Assert.Equal(before.AsSpan(112 + 32, 16).ToArray(), got.AsSpan(112 + 32, 16).ToArray());
        }
        Assert.Empty(log); // Rope and the copies ran on the device
    }

    [Fact]
    public void A_device_without_the_batch_row_op_composes_it_from_its_copies_and_fused_ops()
    {
        var log = new List<string>();
        using IBackend backend = IlgpuCpuWithout(log, BackendOp.BatchRowAttention);
        var cpu = new CpuBackend(1);
        float[] Run(IBackend b)
        {
            using var t = new AttentionInputs(b);
            using DeviceBuffer output = b.Allocate(2 * 32), sq = b.Allocate(32), sk = b.Allocate(16), sv = b.Allocate(16), so = b.Allocate(32);
            b.BatchRowAttention(t.Q, t.K, t.V, 1, t.Cos, t.Sin, t.KCache, t.VCache, output, new RowScratch(sq, sk, sv, so),
                new AttentionShape(Rows: 1, StartPos: 2, Heads: 4, KvHeads: 2, HeadDim: 8, Scale: 0.5f));
            return t.Read(output);
        }
        Tolerances.AssertNmse(Run(backend), Run(cpu), what: "BatchRowAttention composed on the device");
        Assert.Empty(log); // every op it stands for ran on the device
    }

    /// <summary>ILGPU's CPU accelerator lacking <paramref name="disabled"/>, wrapped in the CPU fallback, logging into <paramref name="log"/>.</summary>
    private static IBackend IlgpuCpuWithout(List<string> log, params BackendOp[] disabled)
    {
        IlgpuBackend device = IlgpuDevices.OpenCpu();
        foreach (BackendOp op in disabled)
        {
            device.Disable(op);
        }
        IBackend backend = CpuFallbackBackend.Wrap(device, () => new CpuBackend(1));
        backend.Log = log.Add;
        return backend;
    }

    /// <summary>
    /// A batch of two rows of q [2, 4 heads × 8], k and v [2, 2 kv heads × 8], RoPE tables for four positions and
    /// three-position caches, filled with fixed random values on one backend.
    /// </summary>
    private sealed class AttentionInputs : IDisposable
    {
        public AttentionInputs(IBackend backend)
        {
            Backend = backend;
            float[] angles = Rand.Floats(4 * 4, 7, 3f);
            (Q, K, V, Cos, Sin, KCache, VCache) = (Put(Rand.Floats(64, 1)), Put(Rand.Floats(32, 2)), Put(Rand.Floats(32, 3)),
                Put(angles.Select(MathF.Cos).ToArray()), Put(angles.Select(MathF.Sin).ToArray()), Put(Rand.Floats(48, 4)), Put(Rand.Floats(48, 5)));
        }

        public IBackend Backend { get; }

        public DeviceBuffer Q { get; }
        public DeviceBuffer K { get; }
        public DeviceBuffer V { get; }
        public DeviceBuffer Cos { get; }
        public DeviceBuffer Sin { get; }
        public DeviceBuffer KCache { get; }
        public DeviceBuffer VCache { get; }

        /// <summary><paramref name="first"/> (64 floats), then the key cache and the value cache.</summary>
        public float[] Read(DeviceBuffer first)
        {
            var result = new float[64 + 48 + 48];
            Backend.Download(first, result.AsSpan(0, 64));
            Backend.Download(KCache, result.AsSpan(64, 48));
            Backend.Download(VCache, result.AsSpan(112, 48));
            return result;
        }

        public void Dispose()
        {
            foreach (DeviceBuffer buffer in (DeviceBuffer[])[Q, K, V, Cos, Sin, KCache, VCache])
            {
                buffer.Dispose();
            }
        }

        private DeviceBuffer Put(float[] values)
        {
            DeviceBuffer buffer = Backend.Allocate(values.Length);
            Backend.Upload(values, buffer);
            return buffer;
        }
    }

    private static float[] SoftmaxOn(IBackend backend, float[] input)
    {
        using DeviceBuffer buffer = backend.Allocate(input.Length);
        backend.Upload(input, buffer);
        backend.Softmax(buffer, 2, 9);
        var result = new float[input.Length];
        backend.Download(buffer, result);
        return result;
    }

    private static float[] CpuSoftmax(float[] input)
    {
        var result = (float[])input.Clone();
        for (int r = 0; r < 2; r++)
        {
            Span<float> row = result.AsSpan(r * 9, 9);
            float max = float.NegativeInfinity;
            foreach (float v in row)
            {
                max = MathF.Max(max, v);
            }
            double sum = 0;
            foreach (float v in row)
            {
                sum += Math.Exp(v - max);
            }
            for (int i = 0; i < row.Length; i++)
            {
                row[i] = (float)(Math.Exp(row[i] - max) / sum);
            }
        }
        return result;
    }

    /// <summary>A partial backend that lacks one op (deliberately): the CPU backend with that op removed.</summary>
    private sealed class WithoutSoftmax(BackendOp? missing = BackendOp.Softmax) : CpuBackend(1), IPartialBackend
    {
        public bool Supports(BackendOp op) => op != missing;

        public new void Softmax(DeviceBuffer x, int rows, int cols) =>
            throw new InvalidOperationException("the fallback called the missing op on the partial backend");

        void IBackend.Softmax(DeviceBuffer x, int rows, int cols) => Softmax(x, rows, cols);
    }
}
