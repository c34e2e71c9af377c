using System.Runtime.InteropServices;

namespace Copal.Tensors.Kernels;

/// <summary>
/// SparseGPT's Hessian statistic gram[cols, cols] += Xᵀ·X as a GEMM on the shared register tile. Xᵀ plays both
/// operands, so packing reads rows of X contiguously; only tiles on or above the diagonal are computed (half the
/// flops) and each off-diagonal tile is added to both halves, which keeps the result exactly symmetric.
/// </summary>
internal static unsafe class Gram
{
    /// <summary>Depth (rows of X) of one packed slab.</summary>
    private const int KC = 256;

    /// <summary>Number of MR-row tile rows of the output; threads split these.</summary>
    public static int TileRows(int cols) => (cols + GemmMicroKernel.MR - 1) / GemmMicroKernel.MR;

    /// <summary>
    /// Adds Xᵀ·X for output tile rows [tileStart, tileEnd) (see <see cref="TileRows"/>): every (i, j) and (j, i) with
    /// i in those tile rows and j ≥ the tile row's start. x is [rows, cols], gram [cols, cols].
    /// </summary>
    public static void Accumulate(ReadOnlySpan<float> x, int rows, int cols, Span<float> gram, int tileStart, int tileEnd)
    {
        if ((long)x.Length < (long)rows * cols)
        {
            throw new ArgumentException($"x has {x.Length} elements, expected [{rows}, {cols}]", nameof(x));
        }
        if ((long)gram.Length < (long)cols * cols)
        {
            throw new ArgumentException($"gram has {gram.Length} elements, expected [{cols}, {cols}]", nameof(gram));
        }
        if ((uint)tileStart > (uint)tileEnd || tileEnd > TileRows(cols))
        {
            throw new ArgumentOutOfRangeException(nameof(tileEnd), $"tile rows [{tileStart}, {tileEnd}) outside [0, {TileRows(cols)})");
        }
        fixed (float* px = x)
        fixed (float* pg = gram)
        {
            Run(px, rows, cols, pg, tileStart, tileEnd);
        }
    }

    /// <summary>
    /// gram += Xᵀ·X over <paramref name="threads"/> threads (0 = all cores). Tile rows near the top carry more of
    /// the upper triangle, so the split points equalize area: row fraction 1 − √(1 − p/P) for part p of P.
    /// </summary>
    public static void Accumulate(ReadOnlySpan<float> x, int rows, int cols, Span<float> gram, int threads)
    {
        int tiles = TileRows(cols);
        Accumulate(x, rows, cols, gram, 0, 0);
        fixed (float* px = x)
        fixed (float* pg = gram)
        {
            nint ax = (nint)px, ag = (nint)pg;
            int parts = Math.Min(RowPartition.Resolve(threads), tiles);
            if ((long)rows * cols * cols < 1L << 20)
            {
                parts = 1;
            }
            if (parts <= 1)
            {
                Run(px, rows, cols, pg, 0, tiles);
                return;
            }
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
            {
                int start = Boundary(p, parts, tiles), end = Boundary(p + 1, parts, tiles);
                Run((float*)ax, rows, cols, (float*)ag, start, end);
            });
        }
    }

    private static int Boundary(int part, int parts, int tiles) =>
        part >= parts ? tiles : (int)Math.Round(tiles * (1 - Math.Sqrt(1 - (double)part / parts)));

    internal static void Run(float* x, int rows, int cols, float* gram, int tileStart, int tileEnd)
    {
        const int MR = GemmMicroKernel.MR, NR = GemmMicroKernel.NR;
        if (rows == 0 || tileStart == tileEnd)
        {
            return;
        }
        int iStart = tileStart * MR, iEnd = Math.Min(cols, tileEnd * MR);
        int jStart = iStart;
        int bSlivers = (cols - jStart + NR - 1) / NR;
        int aSlivers = tileEnd - tileStart;
        float* packA = (float*)NativeMemory.AlignedAlloc((nuint)((long)aSlivers * MR * KC * sizeof(float)), 64);
        float* packB = (float*)NativeMemory.AlignedAlloc((nuint)((long)bSlivers * NR * KC * sizeof(float)), 64);
        float* tile = (float*)NativeMemory.AlignedAlloc((nuint)(MR * NR * sizeof(float)), 64);
        try
        {
            for (int pc = 0; pc < rows; pc += KC)
            {
                int kc = Math.Min(KC, rows - pc);
                PackColumns(x, cols, pc, kc, iStart, iEnd, MR, packA);
                PackColumns(x, cols, pc, kc, jStart, cols, NR, packB);
                for (int s = 0; s < aSlivers; s++)
                {
                    int i0 = iStart + s * MR;
                    int mr = Math.Min(MR, cols - i0);
                    float* ap = packA + (nint)s * MR * kc;
                    // Skip B slivers wholly below the diagonal of this tile row.
                    int tFirst = (i0 - jStart) / NR;
                    for (int t = tFirst; t < bSlivers; t++)
                    {
                        int j0 = jStart + t * NR;
                        int nr = Math.Min(NR, cols - j0);
                        new Span<float>(tile, MR * NR).Clear();
                        GemmMicroKernel.Run(ap, packB + (nint)t * NR * kc, kc, tile, NR);
                        Scatter(tile, i0, mr, j0, nr, cols, gram);
                    }
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(tile);
            NativeMemory.AlignedFree(packB);
            NativeMemory.AlignedFree(packA);
        }
    }

    /// <summary>
    /// Adds the tile's entries with j ≥ i to gram[i, j], and those with j &gt; i also to gram[j, i], so each
    /// unordered pair is added exactly once per half even where tiles straddle the diagonal.
    /// </summary>
    private static void Scatter(float* tile, int i0, int mr, int j0, int nr, int cols, float* gram)
    {
        for (int a = 0; a < mr; a++)
        {
            int i = i0 + a;
            float* row = gram + (nint)i * cols;
            for (int b = 0; b < nr; b++)
            {
                int j = j0 + b;
                if (j < i)
                {
                    continue;
                }
                float v = tile[a * GemmMicroKernel.NR + b];
                row[j] += v;
                if (j != i)
                {
                    gram[(nint)j * cols + i] += v;
                }
            }
        }
    }

    /// <summary>Columns [c0, c1) of X rows [pc, pc+kc) into slivers [kc][width], zero past c1.</summary>
    internal static void PackColumns(float* x, int cols, int pc, int kc, int c0, int c1, int width, float* dst)
    {
        for (int s0 = c0; s0 < c1; s0 += width)
        {
            float* d = dst + (nint)((s0 - c0) / width) * width * kc;
            int w = Math.Min(width, c1 - s0);
            for (int k = 0; k < kc; k++)
            {
                float* src = x + (nint)(pc + k) * cols + s0;
                float* dk = d + k * width;
                int c = 0;
                for (; c < w; c++)
                {
                    dk[c] = src[c];
                }
                for (; c < width; c++)
                {
                    dk[c] = 0f;
                }
            }
        }
    }
}
