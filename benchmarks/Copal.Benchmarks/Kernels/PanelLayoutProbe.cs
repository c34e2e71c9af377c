using System.Runtime.InteropServices;
using Copal.Tensors;
using Copal.Tensors.Kernels;

namespace Copal.Benchmarks.Kernels;

/// <summary>
/// `probe panel [f32|f16]`: <see cref="MatMul"/> over TinyLlama-1.1B's linear shapes (BF16 unless told) stored row-major and in panels
/// (<see cref="WeightLayout.Panels"/>), at 1, 2, 3, 4 and 8 input rows, with the weights coming from DRAM as in a decode
/// step (each call takes the next of enough copies to fill 256 MiB); medians of each round, the median round of
/// three, layouts alternated within a round.
/// </summary>
internal static unsafe class PanelLayoutProbe
{
    public static void Run(int threads, DType dtype)
    {
        int[] counts = [1, 2, 3, 4, 8];
        Console.WriteLine("| shape out×in | n | row-major µs | panels µs | panels ÷ row-major |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var (o, i) in new[] { (2048, 2048), (5632, 2048), (2048, 5632), (32000, 2048) })
        {
            int copies = (int)Math.Max(2, (256L << 20) / ((long)o * i * dtype.SizeOf()));
            var rows = new LinearBuffers[copies];
            var panels = new WeightMatrix[copies];
            for (int c = 0; c < copies; c++)
            {
                rows[c] = new LinearBuffers(o, i, 8, dtype);
                panels[c] = PanelPacking.Pack(rows[c].Matrix);
            }
            var times = new double[counts.Length, 2, 3];
            for (int round = 0; round < 3; round++)
            {
                for (int ni = 0; ni < counts.Length; ni++)
                {
                    int n = counts[ni];
                    for (int layout = 0; layout < 2; layout++)
                    {
                        int next = 0;
                        times[ni, layout, round] = QuickProbe.Median(4 * copies, () =>
                        {
                            int c = next++ % copies;
                            var b = rows[c];
                            MatMul.Compute(b.XSpan[..(n * i)], n, layout == 0 ? b.Matrix : panels[c], b.YSpan[..(n * o)], threads);
                        });
                    }
                }
            }
            for (int ni = 0; ni < counts.Length; ni++)
            {
                double rowMajor = MedianRound(times, ni, 0), panel = MedianRound(times, ni, 1);
                Console.WriteLine($"| {o}×{i} | {counts[ni]} | {rowMajor * 1e6:F0} | {panel * 1e6:F0} | {panel / rowMajor:F2} |");
            }
            for (int c = 0; c < copies; c++)
            {
                rows[c].Dispose();
                NativeMemory.AlignedFree(panels[c].Data);
            }
        }
    }

    private static double MedianRound(double[,,] times, int n, int layout)
    {
        double[] rounds = [times[n, layout, 0], times[n, layout, 1], times[n, layout, 2]];
        Array.Sort(rounds);
        return rounds[1];
    }
}
