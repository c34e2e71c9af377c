using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace Copal.Benchmarks.Sparse;

/// <summary>Short runs: the machine is shared, so ratios within one run matter, not absolute times.</summary>
internal sealed class SparseBenchConfig : ManualConfig
{
    public SparseBenchConfig()
    {
        AddJob(Job.Default.WithLaunchCount(1).WithWarmupCount(2).WithIterationCount(6).WithToolchain(InProcessEmitToolchain.Instance).AsDefault());
    }
}
