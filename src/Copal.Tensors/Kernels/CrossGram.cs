using System.Runtime.InteropServices;

namespace Copal.Tensors.Kernels;

/// <summary>
/// cross[cols, cols] += Aᵀ·B for two inputs A, B [rows, cols] over the same tokens, as a GEMM on the shared register
/// tile (<see cref="Gram"/> is the symmetric case A = B and computes half of it). Asymmetric calibration needs it: the
/// cross term between a layer's input through the dense upstream and through the pruned one.
/// </summary>
internal static unsafe class CrossGram
{
    /// <summary>Depth (rows of A and B) of one packed slab.</summary>
    private const int KC = 256;

    /// <summary>cross += Aᵀ·B over <paramref name="threads"/> threads (0 = all cores), split by output tile rows.</summary>
    public static void Accumulate(ReadOnlySpan<float> a, ReadOnlySpan<float> b, int rows, int cols, Span<float> cross, int threads)
    {
        long input = (long)rows * cols;
        if (a.Length < input || b.Length < input)
        {
            throw new ArgumentException($"inputs have {a.Length} and {b.Length} elements, expected [{rows}, {cols}] each");
        }
        if ((long)cross.Length < (long)cols * cols)
        {
            throw new ArgumentException($"cross has {cross.Length} elements, expected [{cols}, {cols}]", nameof(cross));
        }
        int tiles = Gram.TileRows(cols);
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = cross)
        {
            nint aa = (nint)pa, ab = (nint)pb, ac = (nint)pc;
            int parts = input * cols < 1L << 20 ? 1 : Math.Min(RowPartition.Resolve(threads), tiles);
            if (parts <= 1)
            {
                Run(pa, pb, rows, cols, pc, 0, tiles);
                return;
            }
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, p =>
            {
                int start = (int)((long)tiles * p / parts), end = (int)((long)tiles * (p + 1) / parts);
                Run((float*)aa, (float*)ab, rows, cols, (float*)ac, start, end);
            });
        }
    }

    // Output rows [tileStart·MR, tileEnd·MR) of every column: A's columns pack as the tile's rows, B's as its columns.
    private static void Run(float* a, float* b, int rows, int cols, float* cross, int tileStart, int tileEnd)
    {
        const int MR = GemmMicroKernel.MR, NR = GemmMicroKernel.NR;
        if (rows == 0 || tileStart == tileEnd)
        {
            return;
        }
        int iStart = tileStart * MR, iEnd = Math.Min(cols, tileEnd * MR);
        int aSlivers = tileEnd - tileStart, bSlivers = (cols + NR - 1) / NR;
        float* packA = (float*)NativeMemory.AlignedAlloc((nuint)((long)aSlivers * MR * KC * sizeof(float)), 64);
        float* packB = (float*)NativeMemory.AlignedAlloc((nuint)((long)bSlivers * NR * KC * sizeof(float)), 64);
        float* tile = (float*)NativeMemory.AlignedAlloc((nuint)(MR * NR * sizeof(float)), 64);
        try
        {
            for (int pc = 0; pc < rows; pc += KC)
            {
                int kc = Math.Min(KC, rows - pc);
                Gram.PackColumns(a, cols, pc, kc, iStart, iEnd, MR, packA);
                Gram.PackColumns(b, cols, pc, kc, 0, cols, NR, packB);
                for (int s = 0; s < aSlivers; s++)
                {
                    int i0 = iStart + (s * MR), mr = Math.Min(MR, cols - i0);
                    float* ap = packA + ((nint)s * MR * kc);
                    for (int t = 0; t < bSlivers; t++)
                    {
                        int j0 = t * NR, nr = Math.Min(NR, cols - j0);
                        new Span<float>(tile, MR * NR).Clear();
                        GemmMicroKernel.Run(ap, packB + ((nint)t * NR * kc), kc, tile, NR);
                        for (int r = 0; r < mr; r++)
                        {
                            float* row = cross + ((nint)(i0 + r) * cols) + j0;
                            float* src = tile + (r * NR);
                            for (int c = 0; c < nr; c++)
                            {
                                row[c] += src[c];
                            }
                        }
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
}
