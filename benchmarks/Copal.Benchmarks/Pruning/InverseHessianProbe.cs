using System.Diagnostics;
using System.Globalization;
using Copal.Prune;
using Copal.Prune.Numerics;

namespace Copal.Benchmarks.Pruning;

/// <summary>
/// `probe inverse-hessian [--cols 2048,5632] [--rounds 1]`: SparseGPT's U from H (<see cref="InverseHessianFactor"/>)
/// on <see cref="TestHessian"/>, and its two O(n³) parts alone (the Cholesky factor, the triangular inverse), in
/// seconds of wall clock and of the process's CPU time (all threads), with the load average: on a machine shared past
/// its cores the wall clock measures the queue, and the CPU time is the figure to compare builds by.
/// </summary>
internal static class InverseHessianProbe
{
    public static void Run(string[] args)
    {
        int at = Array.IndexOf(args, "--cols");
        int[] widths = at >= 0 ? args[at + 1].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() : [2048, 5632];
        at = Array.IndexOf(args, "--rounds");
        int rounds = at >= 0 ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : 1;
        for (int round = 0; round < rounds; round++)
        {
            foreach (int n in widths)
            {
                double[] h = TestHessian.Create(n, new Random(1));
                double[] work = (double[])h.Clone();
                var watch = Stopwatch.StartNew();
                TimeSpan cpu = Cpu();
                InverseHessianFactor.Compute(work, n, new SparseGptOptions(), CancellationToken.None);
                double total = watch.Elapsed.TotalSeconds, totalCpu = (Cpu() - cpu).TotalSeconds;

                // The parts alone, on the reversed, dampened matrix's stand-in: H itself (positive definite here).
                work = (double[])h.Clone();
                watch.Restart();
                cpu = Cpu();
                int failed = Cholesky.FactorLower(work, n, CancellationToken.None);
                double factor = watch.Elapsed.TotalSeconds, factorCpu = (Cpu() - cpu).TotalSeconds;
                var z = new double[(long)n * n];
                watch.Restart();
                cpu = Cpu();
                TriangularInverse.InvertTransposed(work, n, z, CancellationToken.None);
                double inverse = watch.Elapsed.TotalSeconds, inverseCpu = (Cpu() - cpu).TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"n={n} wall: total={total:F3} factor={factor:F3} inverse={inverse:F3} cpu: total={totalCpu:F3} factor={factorCpu:F3} inverse={inverseCpu:F3} failed={failed} load={Load()}"));
            }
        }
    }

    private static TimeSpan Cpu() => Process.GetCurrentProcess().TotalProcessorTime;

    private static string Load() =>
        File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
}
