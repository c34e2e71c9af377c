namespace Copal.Tensors.Kernels;

/// <summary>Y[n, out] = X[n, in] · Wᵀ over all threads: <see cref="Gemv"/> for one row, <see cref="FewRows"/> for a few, <see cref="Gemm"/> otherwise.</summary>
internal static unsafe class MatMul
{
    /// <summary>
    /// Multiply-adds per thread below which a call stays on the calling thread: about 10–20 µs of work, the cost
    /// of handing a range to another core. Tiny models (64-wide stories260K) then never pay for a wake-up.
    /// </summary>
    internal const long MinMacsPerThread = 1 << 17;

    /// <summary>Computes y = x · Wᵀ, spreading output features over <paramref name="threads"/> (0 = all cores).</summary>
    public static void Compute(ReadOnlySpan<float> x, int n, in WeightMatrix weight, Span<float> y, int threads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if ((long)x.Length < (long)n * weight.Cols)
        {
            throw new ArgumentException($"x has {x.Length} elements, expected [{n}, {weight.Cols}] = {(long)n * weight.Cols}", nameof(x));
        }
        if ((long)y.Length < (long)n * weight.Rows)
        {
            throw new ArgumentException($"y has {y.Length} elements, expected [{n}, {weight.Rows}] = {(long)n * weight.Rows}", nameof(y));
        }
        fixed (float* px = x)
        fixed (float* py = y)
        {
            Run(px, n, weight, py, threads);
        }
    }

    internal static void Run(float* x, int n, in WeightMatrix w, float* y, int threads)
    {
        if (n == 0 || w.Rows == 0)
        {
            return;
        }
        long macsPerRow = Math.Max(1L, (long)n * w.Cols);
        int minRows = (int)Math.Clamp(MinMacsPerThread / macsPerRow, 1, int.MaxValue);
        if (w.IsPanels && n <= FewRowsLimit)
        {
            const int R = WeightMatrix.PanelRows;
            RowPartition.For(w.Rows, threads, R, Math.Max(R, minRows), new PanelBody(x, n, w, y));
        }
        else if (n == 1)
        {
            RowPartition.For(w.Rows, threads, 4, Math.Max(4, minRows), new GemvBody(x, w, y));
        }
        else if (n <= FewRowsLimit)
        {
            RowPartition.For(w.Rows, threads, 4, Math.Max(4, minRows), new FewRowsBody(x, n, w, y));
        }
        else if (SplitsInputRows(n, w))
        {
            long macsPerInputRow = Math.Max(1L, (long)w.Rows * w.Cols);
            int minInputRows = (int)Math.Clamp(MinMacsPerThread / macsPerInputRow, 1, int.MaxValue);
            RowPartition.For(n, threads, GemmMicroKernel.MR, Math.Max(GemmMicroKernel.MR, minInputRows), new GemmInputRowsBody(x, w, y));
        }
        else
        {
            RowPartition.For(w.Rows, threads, GemmMicroKernel.NR, Math.Max(GemmMicroKernel.NR, minRows), new GemmBody(x, n, w, y));
        }
    }

    /// <summary>Largest weight (bytes) whose GEMM may be split by input rows: each thread then packs all of it.</summary>
    internal const long InputSplitMaxWeightBytes = 1 << 20;

    /// <summary>
    /// Whether a GEMM is spread over input rows rather than output features. Split by features, every thread
    /// packs all of X, so X is packed once per thread; split by inputs, every thread packs all of W. The smaller
    /// of the two should be repeated: a small weight (the 64–512-row linears of a tiny model such as stories260K)
    /// against hundreds of input rows. Each y[i, j] is the same sum in the same order either way.
    /// </summary>
    internal static bool SplitsInputRows(int n, in WeightMatrix w) =>
        w.Rows < n && w.ByteLength <= InputSplitMaxWeightBytes;

    private readonly struct PanelBody(float* x, int n, WeightMatrix w, float* y) : IRangeBody
    {
        public void Run(int start, int end) => PanelGemv.Run(x, n, w, start, end, y);
    }

    private readonly struct GemvBody(float* x, WeightMatrix w, float* y) : IRangeBody
    {
        public void Run(int start, int end) => Gemv.Run(x, w, start, end, y);
    }

    /// <summary>
    /// Most input rows served by <see cref="FewRows"/> (batched decode of a few sequences) rather than the GEMM,
    /// whose per-call weight conversion and packing, and 12-row tiles, cost more than they save at these counts.
    /// </summary>
    internal const int FewRowsLimit = 8;

    /// <summary>
    /// y[i, j] for i &lt; n ≤ <see cref="FewRowsLimit"/>, j in [rowStart, rowEnd), with the weights streamed from
    /// memory once for all rows: four or more rows go through register tiles (<see cref="BatchedGemv"/> on the
    /// Vector512 path, <see cref="BatchedGemv256"/> on the Vector256 one); fewer run
    /// the GEMV of each over a block of weight rows at a time, small enough (about 32 KiB) to stay in cache while
    /// every input row passes over it. Each row's result is bit for bit its single-row GEMV.
    /// </summary>
    internal static void FewRows(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
    {
        if (BatchedGemv.Serves(w, n))
        {
            BatchedGemv.Run(x, n, w, rowStart, rowEnd, y);
            return;
        }
        if (BatchedGemv256.Serves(w, n))
        {
            BatchedGemv256.Run(x, n, w, rowStart, rowEnd, y);
            return;
        }
        int block = Math.Max(4, (int)(32 * 1024 / Math.Max(1L, (long)w.Cols * w.ElementSize)) & ~3);
        for (int j0 = rowStart; j0 < rowEnd; j0 += block)
        {
            int j1 = Math.Min(rowEnd, j0 + block);
            for (int i = 0; i < n; i++)
            {
                Gemv.Run(x + (nint)i * w.Cols, w, j0, j1, y + (nint)i * w.Rows);
            }
        }
    }

    private readonly struct FewRowsBody(float* x, int n, WeightMatrix w, float* y) : IRangeBody
    {
        public void Run(int start, int end) => FewRows(x, n, w, start, end, y);
    }

    private readonly struct GemmInputRowsBody(float* x, WeightMatrix w, float* y) : IRangeBody
    {
        public void Run(int start, int end) =>
            Gemm.Run(x + (nint)start * w.Cols, end - start, w, 0, w.Rows, y + (nint)start * w.Rows);
    }

    private readonly struct GemmBody(float* x, int n, WeightMatrix w, float* y) : IRangeBody
    {
        public void Run(int start, int end) => Gemm.Run(x, n, w, start, end, y);
    }
}
