namespace Copal.Tensors.Backends;

/// <summary>
/// Runs the ops a device backend lacks on the CPU: the op's buffers are downloaded, computed on a CPU backend and
/// the outputs uploaded back. Each missing op is announced once through <see cref="Log"/>, so a slow path is never
/// silent. Ops the device has pass straight through.
/// </summary>
internal sealed class CpuFallbackBackend : IBackend, ISparseWeightLoader
{
    private readonly IPartialBackend _primary;
    private readonly Lazy<IBackend> _cpu;
    private readonly HashSet<BackendOp> _announced = [];
    private readonly Lock _announceLock = new();

    /// <param name="primary">The device backend; owned by this wrapper from now on.</param>
    /// <param name="createCpu">Makes the CPU backend, on the first fallback.</param>
    public CpuFallbackBackend(IPartialBackend primary, Func<IBackend> createCpu)
    {
        ArgumentNullException.ThrowIfNull(primary);
        ArgumentNullException.ThrowIfNull(createCpu);
        _primary = primary;
        _cpu = new Lazy<IBackend>(createCpu);
    }

    /// <summary><paramref name="primary"/> itself when it has every op, else a wrapper around it.</summary>
    public static IBackend Wrap(IPartialBackend primary, Func<IBackend> createCpu) =>
        Enum.GetValues<BackendOp>().All(primary.Supports) ? primary : new CpuFallbackBackend(primary, createCpu);

    /// <summary>The wrapped device backend.</summary>
    public IPartialBackend Primary => _primary;

    /// <inheritdoc/>
    public BackendInfo Info => _primary.Info;

    /// <inheritdoc/>
    public Action<string>? Log
    {
        get => _primary.Log;
        set => _primary.Log = value;
    }

    /// <inheritdoc/>
    public DeviceBuffer Allocate(long length) => _primary.Allocate(length);

    /// <inheritdoc/>
    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationOffset = 0) =>
        _primary.Upload(source, destination, destinationOffset);

    /// <inheritdoc/>
    public void Download(DeviceBuffer source, Span<float> destination, long sourceOffset = 0) =>
        _primary.Download(source, destination, sourceOffset);

    /// <inheritdoc/>
    public void Synchronize() => _primary.Synchronize();

    /// <inheritdoc/>
    public DeviceBuffer LoadVector(TensorView view) => _primary.LoadVector(view);

    /// <summary>
    /// The device's weight; when MatMul or Embedding falls back, also a CPU view of the same tensor, whose memory
    /// must then outlive the weight as on the CPU backend.
    /// </summary>
    public DeviceWeight LoadWeight(TensorView view)
    {
        DeviceWeight device = _primary.LoadWeight(view);
        return _primary.Supports(BackendOp.MatMul) && _primary.Supports(BackendOp.Embedding)
            ? device
            : new FallbackWeight(device, _cpu.Value.LoadWeight(view));
    }

    /// <summary>On the device when it multiplies (and has sparse kernels), else on the CPU like the fallback MatMul.</summary>
    public DeviceWeight LoadSparseWeight(Sparse.SparseMatrix matrix)
    {
        if (_primary.Supports(BackendOp.MatMul) && _primary is ISparseWeightLoader device)
        {
            return device.LoadSparseWeight(matrix);
        }
        // The fallback MatMul reads the CPU side of a FallbackWeight; a sparse weight has no device side to keep.
        var loader = _cpu.Value as ISparseWeightLoader
            ?? throw new NotSupportedException($"LoadSparseWeight('{matrix.Name}'): neither the device nor the CPU fallback backend has sparse kernels");
        DeviceWeight cpu = loader.LoadSparseWeight(matrix);
        return new FallbackWeight(cpu, cpu);
    }

    /// <inheritdoc/>
    public bool ConvertsDenseWeights => _primary is ISparseWeightLoader device && device.ConvertsDenseWeights;

    /// <inheritdoc/>
    public void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceBuffer y, int rows)
    {
        if (_primary.Supports(BackendOp.MatMul))
        {
            _primary.MatMul(x, DeviceOf(weight), y, rows);
            return;
        }
        using Staging s = Begin(BackendOp.MatMul);
        _cpu.Value.MatMul(s.In(x), CpuOf(weight, "MatMul"), s.In(y), rows);
        s.Out(y);
    }

    /// <inheritdoc/>
    public void AddBias(DeviceBuffer y, DeviceBuffer bias, int rows, int cols)
    {
        if (_primary.Supports(BackendOp.AddBias))
        {
            _primary.AddBias(y, bias, rows, cols);
            return;
        }
        using Staging s = Begin(BackendOp.AddBias);
        _cpu.Value.AddBias(s.In(y), s.In(bias), rows, cols);
        s.Out(y);
    }

    /// <inheritdoc/>
    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps)
    {
        if (_primary.Supports(BackendOp.RmsNorm))
        {
            _primary.RmsNorm(x, weight, y, rows, dim, eps);
            return;
        }
        using Staging s = Begin(BackendOp.RmsNorm);
        _cpu.Value.RmsNorm(s.In(x), s.In(weight), s.In(y), rows, dim, eps);
        s.Out(y);
    }

    /// <summary>The device's fused op, or the plain ops it stands for, each on the device or the CPU as it has them.</summary>
    public void MatMulTriple(DeviceBuffer x, DeviceWeight w0, DeviceBuffer y0, DeviceWeight w1, DeviceBuffer y1, DeviceWeight w2, DeviceBuffer y2, int rows)
    {
        if (_primary.Supports(BackendOp.MatMulTriple) && _primary.Supports(BackendOp.MatMul))
        {
            _primary.MatMulTriple(x, DeviceOf(w0), y0, DeviceOf(w1), y1, DeviceOf(w2), y2, rows);
            return;
        }
        FusedOps.MatMulTriple(this, x, w0, y0, w1, y1, w2, y2, rows);
    }

    /// <summary>The device's fused op, or the plain ops it stands for, each on the device or the CPU as it has them.</summary>
    public void MatMulSiluGate(DeviceBuffer x, DeviceWeight gate, DeviceWeight up, DeviceBuffer output, DeviceBuffer upScratch, int rows)
    {
        if (_primary.Supports(BackendOp.MatMulSiluGate) && _primary.Supports(BackendOp.MatMul) && _primary.Supports(BackendOp.SiluMul))
        {
            _primary.MatMulSiluGate(x, DeviceOf(gate), DeviceOf(up), output, upScratch, rows);
            return;
        }
        FusedOps.MatMulSiluGate(this, x, gate, up, output, upScratch, rows);
    }

    /// <summary>The device's fused op, or the plain ops it stands for, each on the device or the CPU as it has them.</summary>
    public void AddRmsNorm(DeviceBuffer x, DeviceBuffer delta, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps)
    {
        if (_primary.Supports(BackendOp.AddRmsNorm))
        {
            _primary.AddRmsNorm(x, delta, weight, y, rows, dim, eps);
            return;
        }
        FusedOps.AddRmsNorm(this, x, delta, weight, y, rows, dim, eps);
    }

    /// <summary>The device's fused op, or the plain ops it stands for, each on the device or the CPU as it has them.</summary>
    public void RopeAndStore(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer cos, DeviceBuffer sin, DeviceBuffer kCache, DeviceBuffer vCache, in AttentionShape shape)
    {
        if (_primary.Supports(BackendOp.RopeAndStore))
        {
            _primary.RopeAndStore(q, k, v, cos, sin, kCache, vCache, shape);
            return;
        }
        FusedOps.RopeAndStore(this, q, k, v, cos, sin, kCache, vCache, shape);
    }

    /// <summary>The device's fused op, or the plain ops it stands for, each on the device or the CPU as it has them.</summary>
    public void BatchRowAttention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, int row, DeviceBuffer cos, DeviceBuffer sin,
        DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in RowScratch scratch, in AttentionShape shape)
    {
        if (_primary.Supports(BackendOp.BatchRowAttention))
        {
            _primary.BatchRowAttention(q, k, v, row, cos, sin, kCache, vCache, output, scratch, shape);
            return;
        }
        FusedOps.BatchRowAttention(this, q, k, v, row, cos, sin, kCache, vCache, output, scratch, shape);
    }

    /// <inheritdoc/>
    public void Rope(DeviceBuffer x, DeviceBuffer cos, DeviceBuffer sin, int rows, int heads, int headDim, int rotaryDim, int startPos)
    {
        if (_primary.Supports(BackendOp.Rope))
        {
            _primary.Rope(x, cos, sin, rows, heads, headDim, rotaryDim, startPos);
            return;
        }
        using Staging s = Begin(BackendOp.Rope);
        _cpu.Value.Rope(s.In(x), s.In(cos), s.In(sin), rows, heads, headDim, rotaryDim, startPos);
        s.Out(x);
    }

    /// <inheritdoc/>
    public void Attention(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in AttentionShape shape)
    {
        if (_primary.Supports(BackendOp.Attention))
        {
            _primary.Attention(q, kCache, vCache, output, shape);
            return;
        }
        using Staging s = Begin(BackendOp.Attention);
        _cpu.Value.Attention(s.In(q), s.In(kCache), s.In(vCache), s.In(output), shape);
        s.Out(output);
    }

    /// <inheritdoc/>
    public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count)
    {
        if (_primary.Supports(BackendOp.Copy))
        {
            _primary.Copy(source, sourceOffset, destination, destinationOffset, count);
            return;
        }
        using Staging s = Begin(BackendOp.Copy);
        _cpu.Value.Copy(s.In(source), sourceOffset, s.In(destination), destinationOffset, count);
        s.Out(destination);
    }

    /// <inheritdoc/>
    public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count)
    {
        if (_primary.Supports(BackendOp.SiluMul))
        {
            _primary.SiluMul(gate, up, output, count);
            return;
        }
        using Staging s = Begin(BackendOp.SiluMul);
        _cpu.Value.SiluMul(s.In(gate), s.In(up), s.In(output), count);
        s.Out(output);
    }

    /// <inheritdoc/>
    public void GeluTanhMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count)
    {
        if (_primary.Supports(BackendOp.GeluTanhMul))
        {
            _primary.GeluTanhMul(gate, up, output, count);
            return;
        }
        using Staging s = Begin(BackendOp.GeluTanhMul);
        _cpu.Value.GeluTanhMul(s.In(gate), s.In(up), s.In(output), count);
        s.Out(output);
    }

    /// <inheritdoc/>
    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output, long count)
    {
        if (_primary.Supports(BackendOp.Add))
        {
            _primary.Add(a, b, output, count);
            return;
        }
        using Staging s = Begin(BackendOp.Add);
        _cpu.Value.Add(s.In(a), s.In(b), s.In(output), count);
        s.Out(output);
    }

    /// <inheritdoc/>
    public void Scale(DeviceBuffer x, float factor, long count)
    {
        if (_primary.Supports(BackendOp.Scale))
        {
            _primary.Scale(x, factor, count);
            return;
        }
        using Staging s = Begin(BackendOp.Scale);
        _cpu.Value.Scale(s.In(x), factor, count);
        s.Out(x);
    }

    /// <inheritdoc/>
    public void Embedding(DeviceWeight table, ReadOnlySpan<int> tokens, DeviceBuffer output)
    {
        if (_primary.Supports(BackendOp.Embedding))
        {
            _primary.Embedding(DeviceOf(table), tokens, output);
            return;
        }
        using Staging s = Begin(BackendOp.Embedding);
        _cpu.Value.Embedding(CpuOf(table, "Embedding"), tokens, s.In(output));
        s.Out(output);
    }

    /// <inheritdoc/>
    public void Softmax(DeviceBuffer x, int rows, int cols)
    {
        if (_primary.Supports(BackendOp.Softmax))
        {
            _primary.Softmax(x, rows, cols);
            return;
        }
        using Staging s = Begin(BackendOp.Softmax);
        _cpu.Value.Softmax(s.In(x), rows, cols);
        s.Out(x);
    }

    /// <inheritdoc/>
    public void AccumulateGram(DeviceBuffer x, int rows, int cols, DeviceBuffer gram)
    {
        if (_primary.Supports(BackendOp.AccumulateGram))
        {
            _primary.AccumulateGram(x, rows, cols, gram);
            return;
        }
        using Staging s = Begin(BackendOp.AccumulateGram);
        _cpu.Value.AccumulateGram(s.In(x), rows, cols, s.In(gram));
        s.Out(gram);
    }

    /// <inheritdoc/>
    public void AccumulateColumnSquares(DeviceBuffer x, int rows, int cols, DeviceBuffer sums)
    {
        if (_primary.Supports(BackendOp.AccumulateColumnSquares))
        {
            _primary.AccumulateColumnSquares(x, rows, cols, sums);
            return;
        }
        using Staging s = Begin(BackendOp.AccumulateColumnSquares);
        _cpu.Value.AccumulateColumnSquares(s.In(x), rows, cols, s.In(sums));
        s.Out(sums);
    }

    /// <summary>Disposes the device backend and, if a fallback created it, the CPU backend.</summary>
    public void Dispose()
    {
        _primary.Dispose();
        if (_cpu.IsValueCreated)
        {
            _cpu.Value.Dispose();
        }
    }

    private Staging Begin(BackendOp op)
    {
        lock (_announceLock)
        {
            if (_announced.Add(op))
            {
                Log?.Invoke($"{op} is not implemented on {_primary.Info.Kind} '{_primary.Info.DeviceName}'; running it on the CPU, copying its buffers both ways");
            }
        }
        return new Staging(_primary, _cpu.Value);
    }

    private static DeviceWeight DeviceOf(DeviceWeight weight) => weight is FallbackWeight f ? f.Device : weight;

    private static DeviceWeight CpuOf(DeviceWeight weight, string op) => weight is FallbackWeight f
        ? f.Cpu
        : throw new ArgumentException($"{op}: weight '{weight.Name}' was not loaded through this CpuFallbackBackend", nameof(weight));

    /// <summary>A weight on the device plus its CPU view, for ops that fall back.</summary>
    private sealed class FallbackWeight(DeviceWeight device, DeviceWeight cpu)
        : DeviceWeight(device.Name, device.DType, device.Rows, device.Cols)
    {
        public DeviceWeight Device { get; } = device;

        public DeviceWeight Cpu { get; } = cpu;

        protected override void Release()
        {
            Device.Dispose();
            Cpu.Dispose();
        }
    }

    /// <summary>
    /// CPU copies of one op's device buffers. A buffer passed twice (an in-place op) maps to one copy, so aliasing
    /// behaves as on the device.
    /// </summary>
    private sealed class Staging(IBackend device, IBackend cpu) : IDisposable
    {
        private readonly Dictionary<DeviceBuffer, DeviceBuffer> _copies = new(ReferenceEqualityComparer.Instance);

        public DeviceBuffer In(DeviceBuffer buffer)
        {
            if (!_copies.TryGetValue(buffer, out DeviceBuffer? copy))
            {
                var host = new float[checked((int)buffer.Length)];
                device.Download(buffer, host);
                copy = cpu.Allocate(buffer.Length);
                cpu.Upload(host, copy);
                _copies.Add(buffer, copy);
            }
            return copy;
        }

        public void Out(DeviceBuffer buffer)
        {
            var host = new float[checked((int)buffer.Length)];
            cpu.Download(_copies[buffer], host);
            device.Upload(host, buffer);
        }

        public void Dispose()
        {
            foreach (DeviceBuffer copy in _copies.Values)
            {
                copy.Dispose();
            }
        }
    }
}
