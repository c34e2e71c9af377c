using ILGPU;
using ILGPU.Runtime;
using Copal.Tensors.Backends.Ilgpu.Kernels;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// The ops: argument checks that name the op and the sizes, then one launch each. The checks matter beyond the
/// messages: on ILGPU's CPU accelerator an out-of-bounds access aborts the process.
/// </summary>
public sealed partial class IlgpuBackend
{
    /// <summary>Largest head dimension the attention kernel holds in shared memory.</summary>
    public const int MaxAttentionHeadDim = AttentionKernel.MaxHeadDim;

    /// <inheritdoc/>
    public void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceBuffer y, int rows)
    {
        Require(BackendOp.MatMul);
        FusedOps.CheckMatMulBuffers(x, y);
        Positive(rows, "MatMul", nameof(rows));
        Need(x, (long)rows * weight.Cols, "MatMul", nameof(x));
        Need(y, (long)rows * weight.Rows, "MatMul", nameof(y));
        Count((long)rows * weight.Rows, "MatMul");
        ArrayView<float> xv = Own(x, "MatMul", nameof(x)).View, yv = Own(y, "MatMul", nameof(y)).View;
        if (weight is IlgpuSparseWeight sparse)
        {
            MatMulSparse(xv, sparse, yv, rows);
            return;
        }
        IlgpuWeight w = OwnWeight(weight, "MatMul");
        int outs = w.Rows, cols = w.Cols;
        if (rows == 1)
        {
            KernelConfig config = TeamPerOutput(outs);
            switch (w.DType)
            {
                case DType.F32: _kernels.GemvF32(config, xv, w.F32, yv, outs, cols); break;
                case DType.BF16: _kernels.GemvBf16(config, xv, w.Bf16, yv, outs, cols); break;
                default: _kernels.GemvF16(config, xv, w.F16, yv, outs, cols); break;
            }
            return;
        }
        KernelConfig tiles = GemmTiles(rows, outs);
        switch (w.DType)
        {
            case DType.F32: _kernels.GemmF32(tiles, xv, w.F32, yv, rows, outs, cols); break;
            case DType.BF16: _kernels.GemmBf16(tiles, xv, w.Bf16, yv, rows, outs, cols); break;
            default: _kernels.GemmF16(tiles, xv, w.F16, yv, rows, outs, cols); break;
        }
    }

    /// <inheritdoc/>
    public void AddBias(DeviceBuffer y, DeviceBuffer bias, int rows, int cols)
    {
        Require(BackendOp.AddBias);
        int count = Count((long)rows * cols, "AddBias");
        Need(y, count, "AddBias", nameof(y));
        Need(bias, cols, "AddBias", nameof(bias));
        if (count > 0)
        {
            _kernels.AddBias(count, Own(y, "AddBias", nameof(y)).View, Own(bias, "AddBias", nameof(bias)).View, cols);
        }
    }

    /// <inheritdoc/>
    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps)
    {
        Require(BackendOp.RmsNorm);
        Count((long)rows * dim, "RmsNorm");
        Need(x, (long)rows * dim, "RmsNorm", nameof(x));
        Need(y, (long)rows * dim, "RmsNorm", nameof(y));
        Need(weight, dim, "RmsNorm", nameof(weight));
        if (rows > 0 && dim > 0)
        {
            _kernels.RmsNorm(new KernelConfig(_plan.Groups(rows), _plan.RowGroup),
                Own(x, "RmsNorm", nameof(x)).View, Own(weight, "RmsNorm", nameof(weight)).View, Own(y, "RmsNorm", nameof(y)).View, rows, dim, eps);
        }
    }

    /// <inheritdoc/>
    public void AddRmsNorm(DeviceBuffer x, DeviceBuffer delta, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps)
    {
        Require(BackendOp.AddRmsNorm);
        Count((long)rows * dim, "AddRmsNorm");
        Need(x, (long)rows * dim, "AddRmsNorm", nameof(x));
        Need(delta, (long)rows * dim, "AddRmsNorm", nameof(delta));
        Need(y, (long)rows * dim, "AddRmsNorm", nameof(y));
        Need(weight, dim, "AddRmsNorm", nameof(weight));
        FusedOps.CheckAddRmsNormBuffers(x, delta, y);
        if (rows > 0 && dim > 0)
        {
            _kernels.AddRmsNorm(new KernelConfig(_plan.Groups(rows), _plan.RowGroup), Own(x, "AddRmsNorm", nameof(x)).View,
                Own(delta, "AddRmsNorm", nameof(delta)).View, Own(weight, "AddRmsNorm", nameof(weight)).View, Own(y, "AddRmsNorm", nameof(y)).View, rows, dim, eps);
        }
    }

    /// <inheritdoc/>
    public void RopeAndStore(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer cos, DeviceBuffer sin, DeviceBuffer kCache, DeviceBuffer vCache, in AttentionShape shape)
    {
        const string Op = "RopeAndStore";
        Require(BackendOp.RopeAndStore);
        (int rows, int startPos, int headDim, int rotaryDim) = (shape.Rows, shape.StartPos, shape.HeadDim, shape.Rotary);
        int qPairs = RopePairs(Op, q, nameof(q), cos, sin, rows, shape.Heads, headDim, rotaryDim, startPos);
        int kPairs = RopePairs(Op, k, nameof(k), cos, sin, rows, shape.KvHeads, headDim, rotaryDim, startPos);
        long kvDim = (long)shape.KvHeads * headDim;
        // Rotated q and k pairs, k's elements past rotaryDim, and v's elements: one thread each.
        int count = Count(qPairs + kPairs + ((long)rows * shape.KvHeads * (headDim - rotaryDim)) + (rows * kvDim), Op);
        Need(v, rows * kvDim, Op, nameof(v));
        int cacheRow = shape.InCache().StartPos; // where the positions go in the caches
        Need(kCache, (cacheRow + rows) * kvDim, Op, nameof(kCache));
        Need(vCache, (cacheRow + rows) * kvDim, Op, nameof(vCache));
        if (count > 0)
        {
            _kernels.RopeAndStore(count, Own(q, Op, nameof(q)).View, Own(k, Op, nameof(k)).View, Own(v, Op, nameof(v)).View,
                Own(cos, Op, nameof(cos)).View, Own(sin, Op, nameof(sin)).View, Own(kCache, Op, nameof(kCache)).View, Own(vCache, Op, nameof(vCache)).View,
                rows, shape.Heads, shape.KvHeads, headDim, rotaryDim, startPos, cacheRow);
        }
    }

    /// <summary>
    /// <see cref="RopeAndStore"/> and <see cref="Attention"/> on row <paramref name="row"/> of the batch buffers in
    /// place, as sub-views: two launches where the plain sequence takes six (four of them copies).
    /// </summary>
    public void BatchRowAttention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, int row, DeviceBuffer cos, DeviceBuffer sin,
        DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in RowScratch scratch, in AttentionShape shape)
    {
        const string Op = "BatchRowAttention";
        Require(BackendOp.BatchRowAttention);
        FusedOps.CheckBatchRow(row, shape);
        CheckAttentionShape(Op, shape);
        (int headDim, int rotaryDim) = (shape.HeadDim, shape.Rotary);
        int qPairs = RopePairs(Op, q, nameof(q), cos, sin, 1, shape.Heads, headDim, rotaryDim, shape.StartPos);
        int kPairs = RopePairs(Op, k, nameof(k), cos, sin, 1, shape.KvHeads, headDim, rotaryDim, shape.StartPos);
        long qDim = (long)shape.Heads * headDim, kvDim = (long)shape.KvHeads * headDim;
        Need(q, (row + 1) * qDim, Op, nameof(q));
        Need(k, (row + 1) * kvDim, Op, nameof(k));
        Need(v, (row + 1) * kvDim, Op, nameof(v));
        Need(output, (row + 1) * qDim, Op, nameof(output));
        AttentionShape inCache = shape.InCache();
        Need(kCache, (inCache.StartPos + 1) * kvDim, Op, nameof(kCache));
        Need(vCache, (inCache.StartPos + 1) * kvDim, Op, nameof(vCache));
        ArrayView<float> qRow = Own(q, Op, nameof(q)).View.SubView(row * qDim, qDim);
        ArrayView<float> kv = Own(kCache, Op, nameof(kCache)).View, vv = Own(vCache, Op, nameof(vCache)).View;
        _kernels.RopeAndStore(Count(qPairs + kPairs + ((long)shape.KvHeads * (headDim - rotaryDim)) + kvDim, Op), qRow, Own(k, Op, nameof(k)).View.SubView(row * kvDim, kvDim),
            Own(v, Op, nameof(v)).View.SubView(row * kvDim, kvDim), Own(cos, Op, nameof(cos)).View, Own(sin, Op, nameof(sin)).View, kv, vv,
            1, shape.Heads, shape.KvHeads, headDim, rotaryDim, shape.StartPos, inCache.StartPos);
        LaunchAttention(qRow, kv, vv, Own(output, Op, nameof(output)).View.SubView(row * qDim, qDim), inCache);
    }

    /// <inheritdoc/>
    public void Rope(DeviceBuffer x, DeviceBuffer cos, DeviceBuffer sin, int rows, int heads, int headDim, int rotaryDim, int startPos)
    {
        Require(BackendOp.Rope);
        int count = RopePairs("Rope", x, nameof(x), cos, sin, rows, heads, headDim, rotaryDim, startPos);
        if (count > 0)
        {
            _kernels.Rope(count, Own(x, "Rope", nameof(x)).View, Own(cos, "Rope", nameof(cos)).View, Own(sin, "Rope", nameof(sin)).View,
                heads, headDim, rotaryDim, startPos);
        }
    }

    /// <inheritdoc/>
    public void Attention(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in AttentionShape given)
    {
        Require(BackendOp.Attention);
        AttentionShape shape = given.InCache();
        CheckAttentionShape("Attention", shape);
        long qElements = (long)shape.Rows * shape.Heads * shape.HeadDim;
        long cacheElements = (long)(shape.StartPos + shape.Rows) * shape.KvHeads * shape.HeadDim;
        Need(q, qElements, "Attention", nameof(q));
        Need(output, qElements, "Attention", nameof(output));
        Need(kCache, cacheElements, "Attention", nameof(kCache));
        Need(vCache, cacheElements, "Attention", nameof(vCache));
        if (shape.Rows == 0)
        {
            return;
        }
        LaunchAttention(Own(q, "Attention", nameof(q)).View, Own(kCache, "Attention", nameof(kCache)).View,
            Own(vCache, "Attention", nameof(vCache)).View, Own(output, "Attention", nameof(output)).View, shape);
    }

    private static void CheckAttentionShape(string op, in AttentionShape shape)
    {
        if (shape.Heads <= 0 || shape.KvHeads <= 0 || shape.Heads % shape.KvHeads != 0 || shape.StartPos < 0 || shape.HeadDim <= 0 || shape.Rows < 0)
        {
            throw new ArgumentException($"{op}: invalid shape {shape}; heads must be a positive multiple of kvHeads");
        }
        if (shape.Window < 0)
        {
            throw new ArgumentException($"{op}: invalid shape {shape}; the window must be ≥ 0 (0 attends every earlier position)");
        }
        if (shape.HeadDim > MaxAttentionHeadDim)
        {
            throw new NotSupportedException($"{op}: headDim {shape.HeadDim} exceeds the kernel's limit of {MaxAttentionHeadDim}");
        }
    }

    /// <summary>The attention launches over checked views: split decode over many keys, else one kernel.</summary>
    private void LaunchAttention(ArrayView<float> qv, ArrayView<float> kv, ArrayView<float> vv, ArrayView<float> ov, in AttentionShape shape)
    {
        // A quad is a 16-byte load: on CUDA a view that does not start on 16 bytes faults (misaligned address), and
        // the CPU accelerator would read shifted data. Whole buffers and BatchRowAttention's rows always qualify when
        // the head dimension is a multiple of 4; any other view takes the scalar kernel.
        bool quads = shape.HeadDim % 4 == 0 && StartsOnQuad(qv) && StartsOnQuad(kv) && StartsOnQuad(vv) && StartsOnQuad(ov);
        int keys = shape.StartPos + 1 - shape.FirstKey(0);
        int splits = quads && shape.Rows == 1 ? _plan.AttentionSplits(shape.Heads, keys) : 1;
        if (splits > 1)
        {
            // Decode over many keys: each head's keys shared by several groups, then their partial softmaxes combined.
            int keysPerSplit = (keys + splits - 1) / splits;
            splits = (keys + keysPerSplit - 1) / keysPerSplit;
            ArrayView<float> partials = AttentionScratch((long)shape.Heads * splits * AttentionQuadsKernels.PartialStride(shape.HeadDim));
            _kernels.AttentionSplit(new KernelConfig(new Index2D(shape.Heads, splits), new Index2D(_plan.AttentionGroup, 1)),
                qv, kv, vv, partials, shape.StartPos, shape.Heads, shape.KvHeads, shape.HeadDim, shape.Scale, shape.Window, keysPerSplit);
            _kernels.AttentionCombine(shape.Heads * shape.HeadDim, partials, ov, shape.HeadDim, splits);
            return;
        }
        // Groups loop over the rows (grid (heads, row groups)), so the grid stays within the plan's groups and within
        // CUDA's 65535 of a second grid dimension, whatever the rows.
        var attention = quads ? _kernels.AttentionQuads : _kernels.Attention;
        int rowGroups = Math.Min(Math.Min(shape.Rows, 65535), Math.Max(1, _plan.MaxGroups / shape.Heads));
        attention(new KernelConfig(new Index2D(shape.Heads, rowGroups), new Index2D(_plan.AttentionGroup, 1)),
            qv, kv, vv, ov, shape.Rows, shape.StartPos, shape.Heads, shape.KvHeads, shape.HeadDim, shape.Scale, shape.Window);
    }

    /// <summary>Whether the view's first element is 16-byte aligned (a constrained call: no boxing on the decode path).</summary>
    private static bool StartsOnQuad<TView>(TView view) where TView : IContiguousArrayView => view.IndexInBytes % 16 == 0;

    /// <inheritdoc/>
    public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count)
    {
        Require(BackendOp.Copy);
        if (sourceOffset < 0 || destinationOffset < 0 || count < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(count), FormattableString.Invariant($"Copy: offsets and count must be ≥ 0, got {sourceOffset}, {destinationOffset}, {count}"));
        }
        Need(source, sourceOffset + count, "Copy", nameof(source));
        Need(destination, destinationOffset + count, "Copy", nameof(destination));
        ArrayView<float> from = Own(source, "Copy", nameof(source)).View, to = Own(destination, "Copy", nameof(destination)).View;
        if (ReferenceEquals(source, destination) && sourceOffset < destinationOffset + count && destinationOffset < sourceOffset + count)
        {
            throw new ArgumentException(
                $"Copy: ranges [{sourceOffset}, {sourceOffset + count}) and [{destinationOffset}, {destinationOffset + count}) of one buffer overlap");
        }
        if (count > 0)
        {
            from.SubView(sourceOffset, count).CopyTo(_stream, to.SubView(destinationOffset, count));
        }
    }

    /// <inheritdoc/>
    public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count)
    {
        (ArrayView<float> a, ArrayView<float> b, ArrayView<float> o, int n) = Elementwise(BackendOp.SiluMul, gate, up, output, count);
        if (n > 0)
        {
            _kernels.SiluMul(n, a, b, o);
        }
    }

    /// <inheritdoc/>
    public void GeluTanhMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count)
    {
        (ArrayView<float> a, ArrayView<float> b, ArrayView<float> o, int n) = Elementwise(BackendOp.GeluTanhMul, gate, up, output, count);
        if (n > 0)
        {
            _kernels.GeluTanhMul(n, a, b, o);
        }
    }

    /// <inheritdoc/>
    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output, long count)
    {
        (ArrayView<float> av, ArrayView<float> bv, ArrayView<float> o, int n) = Elementwise(BackendOp.Add, a, b, output, count);
        if (n > 0)
        {
            _kernels.Add(n, av, bv, o);
        }
    }

    /// <inheritdoc/>
    public void Scale(DeviceBuffer x, float factor, long count)
    {
        Require(BackendOp.Scale);
        int n = Count(count, "Scale");
        Need(x, n, "Scale", nameof(x));
        if (n > 0)
        {
            _kernels.Scale(n, Own(x, "Scale", nameof(x)).View, factor);
        }
    }

    /// <inheritdoc/>
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
        IlgpuWeight w = OwnWeight(table, "Embedding");
        ArrayView<float> o = Own(output, "Embedding", nameof(output)).View;
        if (count == 0)
        {
            return;
        }
        ArrayView<int> ids = UploadTokens(tokens);
        switch (w.DType)
        {
            case DType.F32: _kernels.EmbeddingF32(count, w.F32, ids, o, w.Cols); break;
            case DType.BF16: _kernels.EmbeddingBf16(count, w.Bf16, ids, o, w.Cols); break;
            default: _kernels.EmbeddingF16(count, w.F16, ids, o, w.Cols); break;
        }
    }

    /// <inheritdoc/>
    public void Softmax(DeviceBuffer x, int rows, int cols)
    {
        Require(BackendOp.Softmax);
        Need(x, (long)rows * cols, "Softmax", nameof(x));
        Count((long)rows * cols, "Softmax");
        if (rows > 0 && cols > 0)
        {
            _kernels.Softmax(new KernelConfig(_plan.Groups(rows), _plan.RowGroup), Own(x, "Softmax", nameof(x)).View, rows, cols);
        }
    }

    /// <inheritdoc/>
    public void AccumulateGram(DeviceBuffer x, int rows, int cols, DeviceBuffer gram)
    {
        Require(BackendOp.AccumulateGram);
        Need(x, (long)rows * cols, "AccumulateGram", nameof(x));
        Need(gram, (long)cols * cols, "AccumulateGram", nameof(gram));
        Count((long)cols * cols, "AccumulateGram");
        Count((long)rows * cols, "AccumulateGram");
        if (rows > 0 && cols > 0)
        {
            _kernels.Gram(new Index2D(cols, cols), Own(x, "AccumulateGram", nameof(x)).View, Own(gram, "AccumulateGram", nameof(gram)).View, rows, cols);
        }
    }

    /// <inheritdoc/>
    public void AccumulateColumnSquares(DeviceBuffer x, int rows, int cols, DeviceBuffer sums)
    {
        Require(BackendOp.AccumulateColumnSquares);
        Need(x, (long)rows * cols, "AccumulateColumnSquares", nameof(x));
        Need(sums, cols, "AccumulateColumnSquares", nameof(sums));
        Count((long)rows * cols, "AccumulateColumnSquares");
        if (rows > 0 && cols > 0)
        {
            _kernels.ColumnSquares(cols, Own(x, "AccumulateColumnSquares", nameof(x)).View,
                Own(sums, "AccumulateColumnSquares", nameof(sums)).View, rows, cols);
        }
    }

    /// <summary>
    /// The GEMM's launch: a group per output block (<see cref="MatMulKernels.Gemm"/>), or, for <c>ilgpu-cpu</c>, at most
    /// the plan's groups, which loop over the blocks (<see cref="MatMulKernels.GemmGridStride"/>); the plan decides
    /// both this and which kernel <see cref="KernelSet"/> loaded.
    /// </summary>
    private KernelConfig GemmTiles(int rows, int outs)
    {
        int threads = _plan.GemmThreads, tile = threads * MatMulKernels.PerThread;
        Index2D grid = _plan.GemmGridStride
            ? new Index2D(_plan.Groups((long)Blocks(outs, tile) * Blocks(rows, tile)), 1)
            : new Index2D(Blocks(outs, tile), Blocks(rows, tile));
        return new KernelConfig(grid, new Index2D(threads, threads));
    }

    /// <summary>
    /// A launch with a team of lanes per output feature, as the GEMV and 2:4 kernels expect: a warp on a GPU, one
    /// thread where groups are narrower than a warp (ILGPU's CPU accelerator).
    /// </summary>
    private KernelConfig TeamPerOutput(int outs)
    {
        int teams = _plan.RowGroup < _accelerator.WarpSize ? _plan.RowGroup : _plan.RowGroup / _accelerator.WarpSize;
        return new KernelConfig(_plan.Groups(outs, teams), _plan.RowGroup);
    }

    // ---- checks --------------------------------------------------------------------------------------------

    /// <summary>Checks a RoPE over x [rows, heads·headDim] (named <paramref name="xName"/> in messages) and the tables it reads; returns its rotation pairs.</summary>
    private static int RopePairs(string op, DeviceBuffer x, string xName, DeviceBuffer cos, DeviceBuffer sin, int rows, int heads, int headDim, int rotaryDim, int startPos)
    {
        if (headDim % 2 != 0 || headDim <= 0 || rotaryDim % 2 != 0 || rotaryDim <= 0 || rotaryDim > headDim || startPos < 0)
        {
            throw new ArgumentException(FormattableString.Invariant(
                $"{op}: headDim must be even and positive, rotaryDim even in 2..headDim and startPos ≥ 0, got headDim {headDim}, rotaryDim {rotaryDim}, startPos {startPos}"));
        }
        int pairs = Count((long)rows * heads * (rotaryDim / 2), op);
        long table = (long)(startPos + rows) * (rotaryDim / 2);
        Need(x, (long)rows * heads * headDim, op, xName);
        Need(cos, table, op, nameof(cos));
        Need(sin, table, op, nameof(sin));
        return pairs;
    }

    private (ArrayView<float> A, ArrayView<float> B, ArrayView<float> Output, int Count) Elementwise(
        BackendOp op, DeviceBuffer a, DeviceBuffer b, DeviceBuffer output, long count)
    {
        Require(op);
        string name = op.ToString();
        int n = Count(count, name);
        Need(a, n, name, "first input");
        Need(b, n, name, "second input");
        Need(output, n, name, nameof(output));
        return (Own(a, name, "first input").View, Own(b, name, "second input").View, Own(output, name, nameof(output)).View, n);
    }

    private IlgpuWeight OwnWeight(DeviceWeight weight, string op)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight is not IlgpuWeight own || own.Owner != this)
        {
            throw new ArgumentException($"{op}: weight '{weight.Name}' was not loaded by this {Info.Kind} backend", nameof(weight));
        }
        ObjectDisposedException.ThrowIf(own.IsDisposed, own);
        return own;
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
            throw new ArgumentOutOfRangeException(name, FormattableString.Invariant($"{op}: {name} must be positive, got {value}"));
        }
    }

    /// <summary>
    /// Most elements an op takes: 2^31 − 1,024. Kernels index threads with int, and an auto-grouped launch (a thread
    /// per element) pads its last group of up to 1,024 threads past the count. On CUDA ILGPU computes a thread's
    /// index in 32 bits (PTX mad.lo.s32) and tests it against the count with a signed compare, so where the padding
    /// passed 2^31 − 1 its threads' indices would wrap negative, pass the test, and write before the buffer.
    /// </summary>
    internal const int MaxElements = int.MaxValue - 1023;

    /// <summary>An element count as the kernels take it (0 to <see cref="MaxElements"/>).</summary>
    private static int Count(long count, string op)
    {
        if (count < 0 || count > MaxElements)
        {
            throw new ArgumentOutOfRangeException(nameof(count), $"{op}: {count} elements; the kernels take 0 to {MaxElements}");
        }
        return (int)count;
    }

    private static int Blocks(int count, int size) => (count + size - 1) / size;
}
