using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Copal.Tensors;
using Copal.Tensors.Kernels;

namespace Copal.Benchmarks.Kernels;

/// <summary>
/// `probe f16-vs-bf16`: F16 (marked finite, as a model's checked weights are) against BF16 on TinyLlama-1.1B's
/// linear shapes, the same bytes per call, row-major and in panels (<see cref="WeightLayout.Panels"/>, where
/// Vector512 is hardware), at 1 and 8 input rows, weights from DRAM (each call on the next of enough copies to fill
/// 256 MiB). Five rounds, the two dtypes in alternating order; each round's F16 median time ÷ BF16 median time is
/// listed, since on a shared machine the ratio within a round is what holds.
/// </summary>
internal static class HalfRateProbe
{
    public static void Run(int threads)
    {
        const int Rounds = 5;
        bool panelsToo = Vector512.IsHardwareAccelerated && KernelPaths.UseVector512;
        Console.WriteLine("| shape out×in | layout | n | BF16 µs | F16 µs | F16 ÷ BF16 (median) | rounds |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var (o, i) in new[] { (2048, 2048), (5632, 2048), (2048, 5632), (32000, 2048) })
        {
            int copies = (int)Math.Max(2, (256L << 20) / ((long)o * i * sizeof(ushort)));
            var rows = new Dictionary<DType, LinearBuffers[]>();
            var panels = new Dictionary<DType, WeightMatrix[]>();
            foreach (DType dtype in new[] { DType.BF16, DType.F16 })
            {
                rows[dtype] = Enumerable.Range(0, copies).Select(_ => new LinearBuffers(o, i, 8, dtype)).ToArray();
                panels[dtype] = panelsToo ? rows[dtype].Select(b => PanelPacking.Pack(b.Matrix)).ToArray() : [];
            }
            foreach (bool panel in panelsToo ? new[] { false, true } : new[] { false })
            {
                foreach (int n in new[] { 1, 8 })
                {
                    var bf16 = new double[Rounds];
                    var f16 = new double[Rounds];
                    var ratios = new double[Rounds];
                    for (int round = 0; round < Rounds; round++)
                    {
                        foreach (DType dtype in round % 2 == 0 ? new[] { DType.BF16, DType.F16 } : new[] { DType.F16, DType.BF16 })
                        {
                            LinearBuffers[] buffers = rows[dtype];
                            WeightMatrix[] packed = panels[dtype];
                            int next = 0;
                            double s = QuickProbe.Median(4 * copies, () =>
                            {
                                int c = next++ % copies;
                                var b = buffers[c];
                                MatMul.Compute(b.XSpan[..(n * i)], n, panel ? packed[c] : b.Matrix, b.YSpan[..(n * o)], threads);
                            });
                            (dtype == DType.BF16 ? bf16 : f16)[round] = s;
                        }
                        ratios[round] = f16[round] / bf16[round];
                    }
                    string listed = string.Join(", ", ratios.Select(r => r.ToString("F2")));
                    Console.WriteLine($"| {o}×{i} | {(panel ? "panels" : "row-major")} | {n} | {MedianOf(bf16) * 1e6:F0} | {MedianOf(f16) * 1e6:F0} | {MedianOf(ratios):F2} | {listed} |");
                }
            }
            foreach (var b in rows.Values.SelectMany(c => c))
            {
                b.Dispose();
            }
            foreach (var m in panels.Values.SelectMany(c => c))
            {
                unsafe { NativeMemory.AlignedFree(m.Data); }
            }
        }
    }

    private static double MedianOf(double[] values)
    {
        double[] sorted = [.. values];
        Array.Sort(sorted);
        return sorted[sorted.Length / 2];
    }
}
