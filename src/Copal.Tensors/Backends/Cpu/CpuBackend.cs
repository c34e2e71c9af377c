using Copal.Tensors.Kernels;

namespace Copal.Tensors.Backends.Cpu;

/// <summary>
/// The reference backend: SIMD kernels on the host, run synchronously (each op is complete when it returns, so
/// <see cref="Synchronize"/> has nothing to wait for). Buffers are <see cref="CpuBuffer"/>, weights zero-copy
/// <see cref="CpuWeight"/> views, or, for a model read into memory, copies in panels (<see cref="LoadWeightCopy"/>).
/// </summary>
public unsafe class CpuBackend : IBackend, ISparseWeightLoader, IWeightCopier
{
    /// <summary>Items per thread below which elementwise ops stay on the calling thread.</summary>
    private const int MinElementsPerThread = 1 << 15;

    /// <summary>Uses <paramref name="threads"/> threads for each op (0 = all cores).</summary>
    public CpuBackend(int threads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        Threads = RowPartition.Resolve(threads);
        Info = new BackendInfo("cpu", $"{Environment.ProcessorCount}-core CPU ({Plural.Of(Threads, "thread")})", HostMemory.LimitBytes, Threads);
    }

    /// <summary>Threads each op may use.</summary>
    public int Threads { get; }

    /// <inheritdoc/>
    public BackendInfo Info { get; }

    /// <inheritdoc/>
    public Action<string>? Log { get; set; }

    /// <summary>Which buffers are checked against the host memory available, and how it is read.</summary>
    internal HostBufferFit BufferFit { get; init; } = new();

    /// <inheritdoc/>
    /// <exception cref="DeviceOutOfMemoryException">The buffer would not fit in the host memory available now.</exception>
    public DeviceBuffer Allocate(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        BufferFit.Require(length);
        return new CpuBuffer(length);
    }

    /// <inheritdoc/>
    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationOffset = 0) =>
        source.CopyTo(Cpu(destination).Slice(destinationOffset, source.Length));

    /// <inheritdoc/>
    public void Download(DeviceBuffer source, Span<float> destination, long sourceOffset = 0) =>
        Cpu(source).Slice(sourceOffset, destination.Length).CopyTo(destination);

    /// <inheritdoc/>
    public DeviceWeight LoadWeight(TensorView view) => new CpuWeight(view);

    /// <summary>The weight in this process's memory, in panels where the decode kernels gain from them (<see cref="CpuWeight.Copy"/>).</summary>
    /// <exception cref="DeviceOutOfMemoryException">The copy would not fit in the host memory available now.</exception>
    public DeviceWeight LoadWeightCopy(TensorView view, CancellationToken cancellationToken = default)
    {
        // Checked as a buffer is: a model read into memory (--mmap off) otherwise copied weight after weight past the
        // memory there is, and the out-of-memory killer ended the load with no message.
        BufferFit.RequireBytes(view.ByteLength, $"a copy of tensor '{view.Name}'", HostBufferFit.MapWeightsInstead);
        return CpuWeight.Copy(view, cancellationToken);
    }

    /// <inheritdoc/>
    public DeviceWeight LoadSparseWeight(Sparse.SparseMatrix matrix) => new Sparse.CpuSparseWeight(matrix);

    /// <summary>True: the advisor's break-even points were measured with these kernels, per ISA path.</summary>
    public bool ConvertsDenseWeights => true;

    /// <inheritdoc/>
    public DeviceBuffer LoadVector(TensorView view)
    {
        if (view.Rank != 1 || !view.DType.IsWeightFloat())
        {
            throw new ArgumentException($"tensor '{view.Name}' is {view.DType} {view.ShapeString}, expected a 1-D F32, F16 or BF16 vector", nameof(view));
        }
        var buffer = new CpuBuffer(view.ElementCount);
        var row = new WeightMatrix(view.Data, view.DType, 1, checked((int)view.ElementCount));
        Kernels.Embedding.Row(row, 0, buffer.Pointer);
        return buffer;
    }

    /// <inheritdoc/>
    public void Synchronize()
    {
    }

    /// <summary>
    /// Dispatches on the weight's type, so another storage format (a sparse weight) is one more case here.
    /// </summary>
    public virtual void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceBuffer y, int rows)
    {
        FusedOps.CheckMatMulBuffers(x, y);
        switch (weight)
        {
            case CpuWeight dense:
                MatMulDense(x, dense, y, rows);
                break;
            case Sparse.CpuSparseWeight sparse:
                Sparse.SparseMatMul.Run(Cpu(x).Span, sparse, Cpu(y).Span, rows, Kernels.RowPartition.Resolve(Threads));
                break;
            default:
                throw new NotSupportedException(
                    $"CpuBackend.MatMul cannot read weight '{weight.Name}' of type {weight.GetType().Name}; expected a {nameof(CpuWeight)} from CpuBackend.LoadWeight");
        }
    }

    private void MatMulDense(DeviceBuffer x, CpuWeight weight, DeviceBuffer y, int rows)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        Need(x, (long)rows * weight.Cols, "matmul x", weight);
        Need(y, (long)rows * weight.Rows, "matmul y", weight);
        Kernels.MatMul.Run(Cpu(x).Pointer, rows, weight.Matrix, Cpu(y).Pointer, Threads);
    }

    /// <inheritdoc/>
    public void AddBias(DeviceBuffer y, DeviceBuffer bias, int rows, int cols)
    {
        Need(y, (long)rows * cols, "bias y");
        Need(bias, cols, "bias");
        nint py = (nint)Cpu(y).Pointer, pb = (nint)Cpu(bias).Pointer;
        RowPartition.For(rows, Threads, 1, Math.Max(1, MinElementsPerThread / Math.Max(1, cols)), new CpuOps.Bias((float*)py, (float*)pb, rows, cols));
    }

    /// <inheritdoc/>
    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps)
    {
        Need(x, (long)rows * dim, "rmsnorm x");
        Need(weight, dim, "rmsnorm weight");
        Need(y, (long)rows * dim, "rmsnorm y");
        nint px = (nint)Cpu(x).Pointer, pw = (nint)Cpu(weight).Pointer, py = (nint)Cpu(y).Pointer;
        int count = checked(rows * dim);
        RowPartition.For(rows, Threads, 1, Math.Max(1, MinElementsPerThread / Math.Max(1, dim)), new CpuOps.Norm((float*)px, (float*)pw, (float*)py, count, dim, eps));
    }

    /// <inheritdoc/>
    public void Rope(DeviceBuffer x, DeviceBuffer cos, DeviceBuffer sin, int rows, int heads, int headDim, int rotaryDim, int startPos)
    {
        int width = heads * headDim;
        Need(x, (long)rows * width, "rope x");
        if (cos.Length != sin.Length)
        {
            throw new ArgumentException($"rope cos has {cos.Length} floats but sin has {sin.Length}");
        }
        nint px = (nint)Cpu(x).Pointer, pc = (nint)Cpu(cos).Pointer, ps = (nint)Cpu(sin).Pointer;
        int table = checked((int)cos.Length);
        RowPartition.For(rows, Threads, 1, Math.Max(1, MinElementsPerThread / Math.Max(1, width)),
            new CpuOps.Rotary((float*)px, (float*)pc, (float*)ps, rows * width, table, heads, headDim, rotaryDim, startPos));
    }

    /// <inheritdoc/>
    public void Attention(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in AttentionShape shape)
    {
        AttentionShape s = shape.InCache();
        Kernels.Attention.Validate(checked((int)q.Length), checked((int)kCache.Length), checked((int)vCache.Length), checked((int)output.Length), s);
        nint pq = (nint)Cpu(q).Pointer, pk = (nint)Cpu(kCache).Pointer, pv = (nint)Cpu(vCache).Pointer, po = (nint)Cpu(output).Pointer;
        int ql = (int)q.Length, kl = (int)kCache.Length, vl = (int)vCache.Length, ol = (int)output.Length;
        if (BlockedAttention.Suits(s))
        {
            // Many query rows: per KV head and row block, two GEMMs instead of a dot product per key.
            RowPartition.For(BlockedAttention.Items(s), Threads, 1, 1,
                new CpuOps.AttendBlocked((float*)pq, (float*)pk, (float*)pv, (float*)po, ql, kl, vl, ol, s, BufferFit));
            return;
        }
        // Work per (row, head) is one pass over the visible keys: split only when a thread gets enough of it.
        long perItem = Math.Max(1L, (long)Kernels.Attention.ScratchLength(s) * s.HeadDim * 2);
        int minItems = (int)Math.Clamp(MinElementsPerThread / perItem, 1, int.MaxValue);
        RowPartition.For(s.Rows * s.Heads, Threads, 1, minItems,
            new CpuOps.Attend((float*)pq, (float*)pk, (float*)pv, (float*)po, ql, kl, vl, ol, s, BufferFit));
    }

    /// <inheritdoc/>
    public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count) =>
        Cpu(source).Slice(sourceOffset, count).CopyTo(Cpu(destination).Slice(destinationOffset, count));

    /// <inheritdoc/>
    public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count)
    {
        Need(gate, count, "silu gate");
        Need(up, count, "silu up");
        Need(output, count, "silu output");
        nint pg = (nint)Cpu(gate).Pointer, pu = (nint)Cpu(up).Pointer, po = (nint)Cpu(output).Pointer;
        RowPartition.For(checked((int)count), Threads, 16, MinElementsPerThread, new CpuOps.Swiglu((float*)pg, (float*)pu, (float*)po));
    }

    /// <inheritdoc/>
    public void GeluTanhMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count)
    {
        Need(gate, count, "gelu gate");
        Need(up, count, "gelu up");
        Need(output, count, "gelu output");
        nint pg = (nint)Cpu(gate).Pointer, pu = (nint)Cpu(up).Pointer, po = (nint)Cpu(output).Pointer;
        RowPartition.For(checked((int)count), Threads, 16, MinElementsPerThread, new CpuOps.Geglu((float*)pg, (float*)pu, (float*)po));
    }

    /// <inheritdoc/>
    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output, long count)
    {
        Need(a, count, "add a");
        Need(b, count, "add b");
        Need(output, count, "add output");
        nint pa = (nint)Cpu(a).Pointer, pb = (nint)Cpu(b).Pointer, po = (nint)Cpu(output).Pointer;
        RowPartition.For(checked((int)count), Threads, 16, MinElementsPerThread, new CpuOps.Sum((float*)pa, (float*)pb, (float*)po));
    }

    /// <inheritdoc/>
    public void Scale(DeviceBuffer x, float factor, long count)
    {
        Need(x, count, "scale");
        nint px = (nint)Cpu(x).Pointer;
        RowPartition.For(checked((int)count), Threads, 16, MinElementsPerThread, new CpuOps.Scaled((float*)px, factor));
    }

    /// <inheritdoc/>
    public void Embedding(DeviceWeight table, ReadOnlySpan<int> tokens, DeviceBuffer output)
    {
        if (table is not CpuWeight dense)
        {
            throw new NotSupportedException($"CpuBackend.Embedding cannot read table '{table.Name}' of type {table.GetType().Name}; expected a {nameof(CpuWeight)}");
        }
        Need(output, (long)tokens.Length * dense.Cols, "embedding output");
        Kernels.Embedding.Lookup(dense.Matrix, tokens, new Span<float>(Cpu(output).Pointer, tokens.Length * dense.Cols));
    }

    /// <inheritdoc/>
    public void Softmax(DeviceBuffer x, int rows, int cols)
    {
        Need(x, (long)rows * cols, "softmax x");
        nint px = (nint)Cpu(x).Pointer;
        RowPartition.For(rows, Threads, 1, Math.Max(1, MinElementsPerThread / Math.Max(1, cols)), new CpuOps.Normalize((float*)px, rows, cols));
    }

    /// <inheritdoc/>
    public void AccumulateGram(DeviceBuffer x, int rows, int cols, DeviceBuffer gram)
    {
        Need(x, (long)rows * cols, "gram x");
        Need(gram, (long)cols * cols, "gram");
        Gram.Accumulate(new ReadOnlySpan<float>(Cpu(x).Pointer, rows * cols), rows, cols, new Span<float>(Cpu(gram).Pointer, cols * cols), Threads);
    }

    /// <inheritdoc/>
    public void AccumulateColumnSquares(DeviceBuffer x, int rows, int cols, DeviceBuffer sums)
    {
        Need(x, (long)rows * cols, "column squares x");
        Need(sums, cols, "column squares sums");
        nint px = (nint)Cpu(x).Pointer, ps = (nint)Cpu(sums).Pointer;
        RowPartition.For(cols, Threads, 16, Math.Max(16, MinElementsPerThread / Math.Max(1, rows)), new CpuOps.Squares((float*)px, (float*)ps, rows, cols));
    }

    /// <summary>Nothing to free: the backend holds no memory; buffers and weights free their own.</summary>
    public void Dispose() => GC.SuppressFinalize(this);

    private static CpuBuffer Cpu(DeviceBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (buffer is not CpuBuffer cpu)
        {
            throw new ArgumentException($"buffer of type {buffer.GetType().Name} does not belong to the CPU backend; expected {nameof(CpuBuffer)}", nameof(buffer));
        }
        ObjectDisposedException.ThrowIf(cpu.IsDisposed, cpu);
        return cpu;
    }

    private static void Need(DeviceBuffer buffer, long elements, string what, DeviceWeight? weight = null)
    {
        if (Cpu(buffer).Length < elements)
        {
            string of = weight is null ? "" : $" (weight '{weight.Name}' [{weight.Rows}, {weight.Cols}])";
            throw new ArgumentException($"{what}{of} buffer has {buffer.Length} floats, needs {elements}");
        }
    }
}
