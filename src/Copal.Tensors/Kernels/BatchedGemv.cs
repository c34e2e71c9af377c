using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Copal.Tensors.Kernels.VectorFma;

namespace Copal.Tensors.Kernels;

/// <summary>
/// y[i, j] = Σ_k x[i, k]·W[j, k] for a few input rows (batched decode: one row per sequence), in register tiles of
/// two weight rows × four input rows: each widened weight vector feeds four FMAs and each input vector two.
/// <para>
/// The columns are taken in passes of <see cref="PassColumns"/>. A pass runs a block of weight rows against every
/// input's slice of those columns; the slices (eight inputs: 8 KiB) are copied side by side once per call, so they
/// stay in L1 while the weights stream past them, and the tiles' accumulators wait in memory between passes. Over
/// whole rows (2048–5632 columns at 1B scale) the inputs did not fit in L1: every tile step reloaded eight input
/// lines from L2, and those reloads held the miss buffers the weights' reads from memory needed, so with weights
/// coming from DRAM (as in a decode step) eight rows cost 4.4–6.1× one row; in passes, 1.7–2.3× (`probe batch`,
/// docs/serving.md). While a block runs, its tiles prefetch the next block's rows in address order, one sequential
/// stream.
/// </para>
/// <para>
/// Every y[i, j] is summed exactly as <see cref="Gemv"/>'s Vector512 path sums it (two accumulators over
/// alternating 16-column chunks, the 16-wide tail into the first, their vector sum, then the scalar tail); passes
/// are whole 32-column steps, so they do not change that order. A sequence's logits therefore do not depend on how
/// many others share the step.
/// </para>
/// </summary>
internal static unsafe class BatchedGemv
{
    /// <summary>Input rows one tile serves.</summary>
    public const int TileInputs = 4;

    /// <summary>Columns of one pass: a multiple of 32, so a pass ends on a whole step of the GEMV's order.</summary>
    internal const int PassColumns = 256;

    /// <summary>Weight-row pairs of one block, whose tiles' accumulators carry from pass to pass.</summary>
    private const int BlockPairs = 8;

    /// <summary>Input tiles one block serves (eight inputs, the batched-decode limit).</summary>
    private const int BlockTiles = 2;

    /// <summary>Accumulators of one tile: a and b (chunks at k ≡ 0 and k ≡ 16 mod 32) for 2 rows × 4 inputs.</summary>
    private const int TileAccumulators = 16;

    private const int CacheLine = 64;

    /// <summary>This thread's copy of the inputs in pass order; grows to the largest call, kept for the next, freed with the thread.</summary>
    [ThreadStatic] private static ThreadScratch? t_slices;

    /// <summary>Whether <see cref="Run"/> reproduces <see cref="Gemv"/> for this weight: only its Vector512 path is tiled.</summary>
    public static bool Serves(in WeightMatrix w, int n) => KernelPaths.UseVector512 && w.Cols >= 32 && n >= TileInputs;

    /// <summary>
    /// y[i, j] for i &lt; n, j in [rowStart, rowEnd): x is [n, w.Cols], y is [n, w.Rows]. Inputs past the last
    /// whole tile and a last odd weight row take the per-row GEMV.
    /// </summary>
    public static void Run(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
    {
        switch (w.DType)
        {
            case DType.F32: Run<F32Load>(x, n, w, rowStart, rowEnd, y); break;
            case DType.BF16: Run<Bf16Load>(x, n, w, rowStart, rowEnd, y); break;
            case DType.F16 when w.FiniteVerified: Run<F16FiniteLoad>(x, n, w, rowStart, rowEnd, y); break;
            case DType.F16: Run<F16Load>(x, n, w, rowStart, rowEnd, y); break;
            default: throw new NotSupportedException($"weight dtype {w.DType}");
        }
    }

    [SkipLocalsInit] // the accumulators are cleared per block before use
    private static void Run<TLoad>(float* x, int n, in WeightMatrix w, int rowStart, int rowEnd, float* y)
        where TLoad : IWeightLoad
    {
        int cols = w.Cols;
        nint ldy = w.Rows;
        int tiles = n / TileInputs, tiled = tiles * TileInputs;
        int pairEnd = rowStart + (rowEnd - rowStart) / 2 * 2;
        float* slices = Slices(x, tiled, cols);
        Vector512<float>* acc = stackalloc Vector512<float>[BlockPairs * BlockTiles * TileAccumulators];
        for (int t0 = 0; t0 < tiles; t0 += BlockTiles)
        {
            int t1 = Math.Min(tiles, t0 + BlockTiles);
            for (int j0 = rowStart; j0 < pairEnd; j0 += 2 * BlockPairs)
            {
                int j1 = Math.Min(pairEnd, j0 + 2 * BlockPairs);
                new Span<Vector512<float>>(acc, BlockPairs * BlockTiles * TileAccumulators).Clear();
                // The next block's rows are contiguous: prefetch them in address order, spread evenly over this
                // block's steps, as one sequential stream (the GEMV's lesson: streams a row apart read slower).
                byte* ahead = null, aheadEnd = null;
                int linesPerStep = 0;
                if (j1 < rowEnd && Sse.IsSupported)
                {
                    ahead = w.Row(j1);
                    aheadEnd = ahead + (nint)Math.Min(rowEnd - j1, 2 * BlockPairs) * cols * TLoad.DType.SizeOf();
                    long steps = (long)(j1 - j0) / 2 * (t1 - t0) * ((cols + 31) / 32);
                    linesPerStep = (int)Math.Max(1, ((aheadEnd - ahead) / CacheLine + steps - 1) / steps);
                }
                for (int k0 = 0; k0 < cols; k0 += PassColumns)
                {
                    int k1 = Math.Min(cols, k0 + PassColumns);
                    // Slices of pass k0 start at slices + k0·tiled; offset back by k0 so the tile indexes by column.
                    float* pass = slices + (nint)k0 * tiled - k0;
                    for (int j = j0; j < j1; j += 2)
                    {
                        for (int t = t0; t < t1; t++)
                        {
                            Vector512<float>* tileAcc = acc + ((j - j0) / 2 * BlockTiles + t - t0) * TileAccumulators;
                            Tile<TLoad>(pass + (nint)t * TileInputs * PassColumns, w.Row(j), w.Row(j + 1), cols, k0, k1, tileAcc, ref ahead, aheadEnd, linesPerStep);
                        }
                    }
                }
                for (int j = j0; j < j1; j += 2)
                {
                    for (int t = t0; t < t1; t++)
                    {
                        Vector512<float>* tileAcc = acc + ((j - j0) / 2 * BlockTiles + t - t0) * TileAccumulators;
                        Finish<TLoad>(x + (nint)t * TileInputs * cols, w.Row(j), w.Row(j + 1), cols, tileAcc, y + t * TileInputs * ldy + j, ldy);
                    }
                }
            }
        }
        for (int i = 0; i < n; i++)
        {
            float* xi = x + (nint)i * cols;
            float* yi = y + i * ldy;
            if (i >= tiled)
            {
                Gemv.Run(xi, w, rowStart, rowEnd, yi);
            }
            else if (pairEnd < rowEnd)
            {
                Gemv.Run(xi, w, pairEnd, rowEnd, yi);
            }
        }
    }

    /// <summary>The first <paramref name="rows"/> inputs, pass by pass: pass k0's slices at k0·rows, input i's at + i·PassColumns.</summary>
    private static float* Slices(float* x, int rows, int cols)
    {
        nint length = ((nint)cols + PassColumns) * rows;
        float* slices = (t_slices ??= new()).Floats(length);
        for (int k0 = 0; k0 < cols; k0 += PassColumns)
        {
            int width = Math.Min(PassColumns, cols - k0);
            for (int i = 0; i < rows; i++)
            {
                new ReadOnlySpan<float>(x + (nint)i * cols + k0, width)
                    .CopyTo(new Span<float>(slices + (nint)k0 * rows + (nint)i * PassColumns, width));
            }
        }
        return slices;
    }

    /// <summary>
    /// Rows w0, w1 against four input slices (x + i·PassColumns, indexed by column) over columns [k, end), added to
    /// the tile's accumulators: acc[r·4 + i] takes chunks at k ≡ 0 (mod 32) and, when end is the row's end, the
    /// 16-wide tail; acc[8 + r·4 + i] chunks at k ≡ 16. Each step prefetches linesPerStep lines at ahead (advanced, up to aheadEnd).
    /// </summary>
    private static void Tile<TLoad>(float* x, byte* w0, byte* w1, int cols, nint k, nint end, Vector512<float>* acc,
        ref byte* ahead, byte* aheadEnd, int linesPerStep)
        where TLoad : IWeightLoad
    {
        byte* next = ahead;
        float* x0 = x, x1 = x + PassColumns, x2 = x + 2 * PassColumns, x3 = x + 3 * PassColumns;
        Vector512<float> a00 = acc[0], a01 = acc[1], a02 = acc[2], a03 = acc[3];
        Vector512<float> a10 = acc[4], a11 = acc[5], a12 = acc[6], a13 = acc[7];
        Vector512<float> b00 = acc[8], b01 = acc[9], b02 = acc[10], b03 = acc[11];
        Vector512<float> b10 = acc[12], b11 = acc[13], b12 = acc[14], b13 = acc[15];
        for (; k + 32 <= end; k += 32)
        {
            for (int line = 0; line < linesPerStep && next < aheadEnd; line++, next += CacheLine)
            {
                Sse.Prefetch0(next);
            }
            Vector512<float> u = TLoad.Load16(w0, k), v = TLoad.Load16(w1, k), xv;
            xv = Vector512.Load(x0 + k); a00 = Fma(u, xv, a00); a10 = Fma(v, xv, a10);
            xv = Vector512.Load(x1 + k); a01 = Fma(u, xv, a01); a11 = Fma(v, xv, a11);
            xv = Vector512.Load(x2 + k); a02 = Fma(u, xv, a02); a12 = Fma(v, xv, a12);
            xv = Vector512.Load(x3 + k); a03 = Fma(u, xv, a03); a13 = Fma(v, xv, a13);
            u = TLoad.Load16(w0, k + 16);
            v = TLoad.Load16(w1, k + 16);
            xv = Vector512.Load(x0 + k + 16); b00 = Fma(u, xv, b00); b10 = Fma(v, xv, b10);
            xv = Vector512.Load(x1 + k + 16); b01 = Fma(u, xv, b01); b11 = Fma(v, xv, b11);
            xv = Vector512.Load(x2 + k + 16); b02 = Fma(u, xv, b02); b12 = Fma(v, xv, b12);
            xv = Vector512.Load(x3 + k + 16); b03 = Fma(u, xv, b03); b13 = Fma(v, xv, b13);
        }
        if (end == cols && k + 16 <= cols)
        {
            Vector512<float> u = TLoad.Load16(w0, k), v = TLoad.Load16(w1, k), xv;
            xv = Vector512.Load(x0 + k); a00 = Fma(u, xv, a00); a10 = Fma(v, xv, a10);
            xv = Vector512.Load(x1 + k); a01 = Fma(u, xv, a01); a11 = Fma(v, xv, a11);
            xv = Vector512.Load(x2 + k); a02 = Fma(u, xv, a02); a12 = Fma(v, xv, a12);
            xv = Vector512.Load(x3 + k); a03 = Fma(u, xv, a03); a13 = Fma(v, xv, a13);
        }
        ahead = next;
        acc[0] = a00; acc[1] = a01; acc[2] = a02; acc[3] = a03;
        acc[4] = a10; acc[5] = a11; acc[6] = a12; acc[7] = a13;
        acc[8] = b00; acc[9] = b01; acc[10] = b02; acc[11] = b03;
        acc[12] = b10; acc[13] = b11; acc[14] = b12; acc[15] = b13;
    }

    /// <summary>A tile's results as <see cref="Gemv"/> ends its sums (Σ(a + b), then the scalar tail): y[i·ldy], y[i·ldy + 1].</summary>
    private static void Finish<TLoad>(float* x, byte* w0, byte* w1, int cols, Vector512<float>* acc, float* y, nint ldy)
        where TLoad : IWeightLoad
    {
        for (int i = 0; i < TileInputs; i++)
        {
            float* xi = x + (nint)i * cols;
            float s0 = Vector512.Sum(acc[i] + acc[8 + i]), s1 = Vector512.Sum(acc[4 + i] + acc[12 + i]);
            for (nint k = cols / 16 * 16; k < cols; k++)
            {
                s0 += TLoad.Load1(w0, k) * xi[k];
                s1 += TLoad.Load1(w1, k) * xi[k];
            }
            y[i * ldy] = s0;
            y[i * ldy + 1] = s1;
        }
    }
}
