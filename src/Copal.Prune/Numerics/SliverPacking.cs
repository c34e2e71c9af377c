using System.Runtime.InteropServices;

namespace Copal.Prune.Numerics;

/// <summary>
/// Lays rows of a row-major matrix out as the slivers <see cref="DoubleMicroKernel"/> reads: the depth (a row's
/// elements) becomes the slow index, so one step of the kernel's loop finds its 12 or 16 operands side by side.
/// </summary>
internal static unsafe class SliverPacking
{
    /// <summary>
    /// Rows [r0, r1) × columns [k0, k1) of <paramref name="src"/> (row stride <paramref name="ld"/>), times
    /// <paramref name="scale"/> (±1, so exact), into slivers of <paramref name="width"/> rows: sliver s holds rows
    /// r0 + s·width onwards at dst + s·width·(k1 − k0), element (row r, column k) at [(k − k0)·width + r]; rows past r1
    /// are zero: they feed only the elements an edge tile drops (<see cref="DoubleMicroKernel.RunEdge"/>), which then
    /// compute on zeros rather than on whatever the buffer held.
    /// </summary>
    public static void PackRows(double* src, int ld, int r0, int r1, int k0, int k1, int width, double scale, double* dst)
    {
        int kc = k1 - k0;
        for (int s0 = r0; s0 < r1; s0 += width)
        {
            double* d = dst + ((long)((s0 - r0) / width) * width * kc);
            int w = Math.Min(width, r1 - s0);
            for (int r = 0; r < w; r++)
            {
                double* row = src + ((long)(s0 + r) * ld) + k0;
                for (int k = 0; k < kc; k++)
                {
                    d[(k * width) + r] = scale * row[k];
                }
            }
            for (int r = w; r < width; r++)
            {
                for (int k = 0; k < kc; k++)
                {
                    d[(k * width) + r] = 0;
                }
            }
        }
    }

    /// <summary>A buffer for the slivers of <paramref name="rows"/> rows × <paramref name="depth"/>, rounded up to whole slivers; free with <see cref="NativeMemory.AlignedFree"/>.</summary>
    public static double* Allocate(int rows, int depth, int width)
    {
        long slivers = Math.Max(1, (rows + width - 1) / width);
        return (double*)NativeMemory.AlignedAlloc((nuint)(slivers * width * Math.Max(1, depth) * sizeof(double)), 64);
    }
}
