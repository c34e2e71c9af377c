using Copal.Tensors.Backends.Gpu;

namespace Copal.Tensors.Backends;

/// <summary>
/// The ops of <see cref="IBackend"/> written once over the shared kernel sources: argument checks, launch shapes
/// and kernel choice. OpenCL and CUDA derive from it and supply memory, transfers and kernel launches.
/// </summary>
public abstract partial class GpuBackend : IPartialBackend
{
    /// <summary>Largest head dimension the attention kernel holds in local memory (ATTN_MAX_HEAD_DIM).</summary>
    public const int MaxAttentionHeadDim = 256;

    private const int AttentionBlock = 64;
    private const int Tile = 16;

    private readonly HashSet<BackendOp> _disabled = [];

    private protected GpuBackend()
    {
    }

    public abstract BackendInfo Info { get; }

    public Action<string>? Log { get; set; }

    /// <summary>
    /// Makes this backend report <paramref name="op"/> as missing, so the CPU fallback runs it: tests use it to
    /// exercise <see cref="CpuFallbackBackend"/> on a real device.
    /// </summary>
    internal void Disable(BackendOp op) => _disabled.Add(op);

    public bool Supports(BackendOp op) => !_disabled.Contains(op);

    public abstract DeviceBuffer Allocate(long length);

    public abstract void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationOffset = 0);

    public abstract void Download(DeviceBuffer source, Span<float> destination, long sourceOffset = 0);

    public abstract void Synchronize();

    public DeviceWeight LoadWeight(TensorView view)
    {
        if (view.Rank != 2 || !view.DType.IsWeightFloat())
        {
            throw new ArgumentException(
                $"LoadWeight: tensor '{view.Name}' is {view.DType} {view.ShapeString}; expected a 2-D F32, F16 or BF16 matrix", nameof(view));
        }
        return CreateWeight(view, checked((int)view.Shape[0]), checked((int)view.Shape[1]));
    }

    public DeviceBuffer LoadVector(TensorView view)
    {
        if (!view.DType.IsWeightFloat())
        {
            throw new ArgumentException($"LoadVector: tensor '{view.Name}' is {view.DType}; expected F32, F16 or BF16", nameof(view));
        }
        var values = new float[checked((int)view.ElementCount)];
        HostConvert.ToSingle(view, values);
        DeviceBuffer buffer = Allocate(values.Length);
        Upload(values, buffer);
        return buffer;
    }

    // ---- what a device API supplies ------------------------------------------------------------------------

    /// <summary>Uploads the weight's bytes unchanged (its stored dtype).</summary>
    private protected abstract DeviceWeight CreateWeight(TensorView view, int rows, int cols);

    /// <summary>The device pointer of a buffer this backend allocated; throws for a foreign or disposed one.</summary>
    private protected abstract KernelArg ArgOf(DeviceBuffer buffer, string op, string name);

    /// <summary>The device pointer of a weight this backend loaded; throws for a foreign or disposed one.</summary>
    private protected abstract KernelArg ArgOf(DeviceWeight weight, string op);

    /// <summary>Copies token ids to device scratch memory (in stream order) and returns its pointer.</summary>
    private protected abstract KernelArg UploadTokens(ReadOnlySpan<int> tokens);

    /// <summary>The driver's copy command, for two distinct buffers.</summary>
    private protected abstract void CopyBetween(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count);

    /// <summary>Enqueues one kernel.</summary>
    private protected abstract void Launch(KernelId kernel, LaunchShape shape, ReadOnlySpan<KernelArg> args);

    // ---- ops -----------------------------------------------------------------------------------------------

    public void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceBuffer y, int rows)
    {
        Require(BackendOp.MatMul);
        Positive(rows, "MatMul", nameof(rows));
        Need(x, (long)rows * weight.Cols, "MatMul", nameof(x));
        Need(y, (long)rows * weight.Rows, "MatMul", nameof(y));
        if (weight is GpuSparseWeight sparse)
        {
            MatMulSparse(x, sparse, y, rows);
            return;
        }
        KernelArg xa = ArgOf(x, "MatMul", nameof(x)), wa = ArgOf(weight, "MatMul"), ya = ArgOf(y, "MatMul", nameof(y));
        if (rows == 1)
        {
            Launch(KernelNames.ForWeight(KernelId.GemvF32, weight.DType), LaunchShape.PerRow(weight.Rows), [xa, wa, ya, weight.Cols]);
        }
        else
        {
            Launch(KernelNames.ForWeight(KernelId.GemmF32, weight.DType), LaunchShape.Tiled(weight.Rows, rows, Tile),
                [xa, wa, ya, rows, weight.Rows, weight.Cols]);
        }
    }

    public void AddBias(DeviceBuffer y, DeviceBuffer bias, int rows, int cols)
    {
        Require(BackendOp.AddBias);
        int count = Count((long)rows * cols, "AddBias");
        Need(y, count, "AddBias", nameof(y));
        Need(bias, cols, "AddBias", nameof(bias));
        if (count > 0)
        {
            Launch(KernelId.AddBias, LaunchShape.Linear(count), [ArgOf(y, "AddBias", nameof(y)), ArgOf(bias, "AddBias", nameof(bias)), rows, cols]);
        }
    }

    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps)
    {
        Require(BackendOp.RmsNorm);
        Count((long)rows * dim, "RmsNorm");
        Need(x, (long)rows * dim, "RmsNorm", nameof(x));
        Need(y, (long)rows * dim, "RmsNorm", nameof(y));
        Need(weight, dim, "RmsNorm", nameof(weight));
        if (rows > 0 && dim > 0)
        {
            Launch(KernelId.RmsNorm, LaunchShape.PerRow(rows),
                [ArgOf(x, "RmsNorm", nameof(x)), ArgOf(weight, "RmsNorm", nameof(weight)), ArgOf(y, "RmsNorm", nameof(y)), dim, eps]);
        }
    }

    public void Rope(DeviceBuffer x, DeviceBuffer cos, DeviceBuffer sin, int rows, int heads, int headDim, int startPos)
    {
        Require(BackendOp.Rope);
        if (headDim % 2 != 0 || startPos < 0)
        {
            throw new ArgumentException($"Rope: headDim must be even and startPos ≥ 0, got headDim {headDim}, startPos {startPos}");
        }
        int count = Count((long)rows * heads * (headDim / 2), "Rope");
        long table = (long)(startPos + rows) * (headDim / 2);
        Need(x, (long)rows * heads * headDim, "Rope", nameof(x));
        Need(cos, table, "Rope", nameof(cos));
        Need(sin, table, "Rope", nameof(sin));
        if (count > 0)
        {
            Launch(KernelId.Rope, LaunchShape.Linear(count),
                [ArgOf(x, "Rope", nameof(x)), ArgOf(cos, "Rope", nameof(cos)), ArgOf(sin, "Rope", nameof(sin)), rows, heads, headDim, startPos]);
        }
    }

    public void Attention(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in AttentionShape shape)
    {
        Require(BackendOp.Attention);
        if (shape.Heads <= 0 || shape.KvHeads <= 0 || shape.Heads % shape.KvHeads != 0 || shape.StartPos < 0 || shape.HeadDim <= 0)
        {
            throw new ArgumentException($"Attention: invalid shape {shape}; heads must be a positive multiple of kvHeads");
        }
        if (shape.HeadDim > MaxAttentionHeadDim)
        {
            throw new NotSupportedException($"Attention: headDim {shape.HeadDim} exceeds the kernel's limit of {MaxAttentionHeadDim}");
        }
        long qElements = (long)shape.Rows * shape.Heads * shape.HeadDim;
        long cacheElements = (long)(shape.StartPos + shape.Rows) * shape.KvHeads * shape.HeadDim;
        Need(q, qElements, "Attention", nameof(q));
        Need(output, qElements, "Attention", nameof(output));
        Need(kCache, cacheElements, "Attention", nameof(kCache));
        Need(vCache, cacheElements, "Attention", nameof(vCache));
        Count(cacheElements, "Attention");
        if (shape.Rows > 65535)
        {
            // The row is the second launch dimension, which CUDA limits to 65535 blocks.
            throw new NotSupportedException($"Attention: {shape.Rows} query rows in one call; at most 65535");
        }
        if (shape.Rows > 0)
        {
            Launch(KernelId.Attention, new LaunchShape(shape.Heads, shape.Rows, AttentionBlock, 1),
                [ArgOf(q, "Attention", nameof(q)), ArgOf(kCache, "Attention", nameof(kCache)), ArgOf(vCache, "Attention", nameof(vCache)),
                 ArgOf(output, "Attention", nameof(output)), shape.StartPos, shape.Heads, shape.KvHeads, shape.HeadDim, shape.Scale]);
        }
    }

    public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count)
    {
        Require(BackendOp.Copy);
        if (sourceOffset < 0 || destinationOffset < 0 || count < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"Copy: offsets and count must be ≥ 0, got {sourceOffset}, {destinationOffset}, {count}");
        }
        Need(source, sourceOffset + count, "Copy", nameof(source));
        Need(destination, destinationOffset + count, "Copy", nameof(destination));
        if (count == 0)
        {
            return;
        }
        if (!ReferenceEquals(source, destination))
        {
            ArgOf(source, "Copy", nameof(source));
            ArgOf(destination, "Copy", nameof(destination));
            CopyBetween(source, sourceOffset, destination, destinationOffset, count);
            return;
        }
        if (sourceOffset < destinationOffset + count && destinationOffset < sourceOffset + count)
        {
            throw new ArgumentException(
                $"Copy: ranges [{sourceOffset}, {sourceOffset + count}) and [{destinationOffset}, {destinationOffset + count}) of one buffer overlap");
        }
        KernelArg buffer = ArgOf(source, "Copy", nameof(source));
        Launch(KernelId.Copy, LaunchShape.Linear(Count(count, "Copy")),
            [buffer, Count(sourceOffset, "Copy"), buffer, Count(destinationOffset, "Copy"), (int)count]);
    }

    public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count) =>
        Elementwise(BackendOp.SiluMul, KernelId.SiluMul, gate, up, output, count);

    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output, long count) =>
        Elementwise(BackendOp.Add, KernelId.Add, a, b, output, count);

    public void Embedding(DeviceWeight table, ReadOnlySpan<int> tokens, DeviceBuffer output)
    {
        Require(BackendOp.Embedding);
        Need(output, (long)tokens.Length * table.Cols, "Embedding", nameof(output));
        int count = Count((long)tokens.Length * table.Cols, "Embedding");
        for (int t = 0; t < tokens.Length; t++)
        {
            if ((uint)tokens[t] >= (uint)table.Rows)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens),
                    $"Embedding: token {t} is {tokens[t]}, outside the {table.Rows} rows of '{table.Name}'");
            }
        }
        if (count == 0)
        {
            return;
        }
        KernelArg tableArg = ArgOf(table, "Embedding"), outArg = ArgOf(output, "Embedding", nameof(output));
        Launch(KernelNames.ForWeight(KernelId.EmbeddingF32, table.DType), LaunchShape.Linear(count),
            [tableArg, UploadTokens(tokens), outArg, tokens.Length, table.Cols]);
    }

    public void Softmax(DeviceBuffer x, int rows, int cols)
    {
        Require(BackendOp.Softmax);
        Need(x, (long)rows * cols, "Softmax", nameof(x));
        Count((long)rows * cols, "Softmax");
        if (rows > 0 && cols > 0)
        {
            Launch(KernelId.Softmax, LaunchShape.PerRow(rows), [ArgOf(x, "Softmax", nameof(x)), cols]);
        }
    }

    public void AccumulateGram(DeviceBuffer x, int rows, int cols, DeviceBuffer gram)
    {
        Require(BackendOp.AccumulateGram);
        Need(x, (long)rows * cols, "AccumulateGram", nameof(x));
        Need(gram, (long)cols * cols, "AccumulateGram", nameof(gram));
        Count((long)cols * cols, "AccumulateGram");
        Count((long)rows * cols, "AccumulateGram");
        if (rows > 0 && cols > 0)
        {
            Launch(KernelId.GramAccumulate, LaunchShape.Tiled(cols, cols, Tile),
                [ArgOf(x, "AccumulateGram", nameof(x)), ArgOf(gram, "AccumulateGram", nameof(gram)), rows, cols]);
        }
    }

    public void AccumulateColumnSquares(DeviceBuffer x, int rows, int cols, DeviceBuffer sums)
    {
        Require(BackendOp.AccumulateColumnSquares);
        Need(x, (long)rows * cols, "AccumulateColumnSquares", nameof(x));
        Need(sums, cols, "AccumulateColumnSquares", nameof(sums));
        Count((long)rows * cols, "AccumulateColumnSquares");
        if (rows > 0 && cols > 0)
        {
            Launch(KernelId.ColumnSquares, LaunchShape.Linear(cols),
                [ArgOf(x, "AccumulateColumnSquares", nameof(x)), ArgOf(sums, "AccumulateColumnSquares", nameof(sums)), rows, cols]);
        }
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Frees the device resources.</summary>
    protected abstract void Dispose(bool disposing);

    // ---- checks --------------------------------------------------------------------------------------------

    private void Elementwise(BackendOp op, KernelId kernel, DeviceBuffer a, DeviceBuffer b, DeviceBuffer output, long count)
    {
        Require(op);
        string name = op.ToString();
        int n = Count(count, name);
        Need(a, n, name, "first input");
        Need(b, n, name, "second input");
        Need(output, n, name, nameof(output));
        if (n > 0)
        {
            Launch(kernel, LaunchShape.Linear(n), [ArgOf(a, name, "first input"), ArgOf(b, name, "second input"), ArgOf(output, name, nameof(output)), n]);
        }
    }

    private void Require(BackendOp op)
    {
        if (_disabled.Contains(op))
        {
            throw new NotSupportedException($"{op} is not available on {Info.Kind} '{Info.DeviceName}'; wrap the backend in CpuFallbackBackend");
        }
    }

    private static void Need(DeviceBuffer buffer, long elements, string op, string name)
    {
        ArgumentNullException.ThrowIfNull(buffer, name);
        if (buffer.Length < elements)
        {
            throw new ArgumentException($"{op}: {name} has {buffer.Length} elements, needs at least {elements}", name);
        }
    }

    private static void Positive(int value, string op, string name)
    {
        if (value <= 0)
        {
            throw new ArgumentOutOfRangeException(name, $"{op}: {name} must be positive, got {value}");
        }
    }

    /// <summary>Kernels index with int: element counts must stay below 2^31.</summary>
    private static int Count(long count, string op)
    {
        if (count < 0 || count > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"{op}: {count} elements; the kernels take 0 to {int.MaxValue}");
        }
        return (int)count;
    }

    /// <summary>Throws naming the transfer when [offset, offset + count) is not inside <paramref name="buffer"/>.</summary>
    protected static void CheckRange(DeviceBuffer buffer, long offset, long count, string op)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        if (offset < 0 || offset + count > buffer.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset),
                $"{op}: elements [{offset}, {offset + count}) outside a buffer of {buffer.Length}");
        }
    }
}
