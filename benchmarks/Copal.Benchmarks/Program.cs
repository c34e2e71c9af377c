using BenchmarkDotNet.Running;

namespace Copal.Benchmarks;

internal static class Program
{
    private static void Main(string[] args)
    {
        // `probe` is a quick stopwatch run for iterating on kernels; everything else goes to BenchmarkDotNet.
        if (args.Length > 0 && args[0] == "probe")
        {
            if (args.Contains("json-mask"))
            {
                Generation.JsonMaskProbe.Run();
                return;
            }
            if (args.Contains("prune-steps"))
            {
                Pruning.PruneStepsProbe.Run(args);
                return;
            }
            if (args.Contains("inverse-hessian"))
            {
                Pruning.InverseHessianProbe.Run(args);
                return;
            }
            if (args.Contains("schema-mask"))
            {
                Generation.SchemaMaskProbe.Run();
                return;
            }
            Kernels.QuickProbe.Run(args);
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
