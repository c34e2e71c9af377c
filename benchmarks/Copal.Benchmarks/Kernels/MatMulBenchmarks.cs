using System.Runtime.InteropServices;
using Copal.Cli.Commands;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Copal.Tensors;
using Copal.Tensors.Kernels;

namespace Copal.Benchmarks.Kernels;

/// <summary>
/// Linear layers on LLaMA-7B shapes, Copal against OpenBLAS (f32) in the same run. Short job: the machine is shared
/// and the point is a ratio, not a publication-grade absolute. Run: <c>--filter *MatMulBenchmarks*</c>.
/// </summary>
[Config(typeof(Config))]
public unsafe class MatMulBenchmarks : IDisposable
{
    private LinearBuffers _buffers = null!;

    [Params("4096x4096", "11008x4096", "4096x11008")]
    public string Shape { get; set; } = "4096x4096";

    [Params(1, 512)]
    public int N { get; set; }

    [Params(DType.F32, DType.BF16, DType.F16)]
    public DType DType { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        string[] parts = Shape.Split('x');
        _buffers = new LinearBuffers(int.Parse(parts[0]), int.Parse(parts[1]), N, DType);
        BenchOpenBlas.SetThreads(Environment.ProcessorCount);
    }

    [GlobalCleanup]
    public void Cleanup() => _buffers.Dispose();

    public void Dispose()
    {
        _buffers?.Dispose();
        GC.SuppressFinalize(this);
    }

    [Benchmark(Baseline = true)]
    public void Copal() => MatMul.Compute(_buffers.XSpan, N, _buffers.Matrix, _buffers.YSpan);

    /// <summary>The f32 peer; for BF16/F16 rows it still runs f32 (OpenBLAS has no such sgemv), for reference.</summary>
    [Benchmark]
    public void OpenBlasF32()
    {
        if (!BenchOpenBlas.IsAvailable)
        {
            return;
        }
        if (DType != DType.F32)
        {
            return; // only the f32 rows have a like-for-like peer
        }
        BenchOpenBlas.Linear(_buffers.X, N, (float*)_buffers.Weight, _buffers.Matrix.Rows, _buffers.Matrix.Cols, _buffers.Y);
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.ShortRun.WithWarmupCount(1).WithIterationCount(3).WithLaunchCount(1));
            AddColumn(new ThroughputColumn());
        }
    }

    /// <summary>GB/s of stored weight bytes for GEMV (n = 1), GFLOP/s for GEMM, from the mean time.</summary>
    private sealed class ThroughputColumn : IColumn
    {
        public string Id => nameof(ThroughputColumn);
        public string ColumnName => "Throughput";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => false;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "GEMV: stored weight GB/s; GEMM: GFLOP/s";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var report = summary[benchmarkCase];
            if (report?.ResultStatistics is null)
            {
                return "—";
            }
            double seconds = report.ResultStatistics.Mean / 1e9;
            string[] parts = ((string)benchmarkCase.Parameters["Shape"]).Split('x');
            double rows = double.Parse(parts[0]), cols = double.Parse(parts[1]);
            int n = (int)benchmarkCase.Parameters["N"];
            var dtype = (DType)benchmarkCase.Parameters["DType"];
            bool blas = benchmarkCase.Descriptor.WorkloadMethod.Name == nameof(OpenBlasF32);
            if (blas && dtype != DType.F32)
            {
                return "—";
            }
            return n == 1
                ? $"{rows * cols * (blas ? 4 : dtype.SizeOf()) / seconds / 1e9:F2} GB/s"
                : $"{2 * n * rows * cols / seconds / 1e9:F1} GFLOP/s";
        }
    }
}

/// <summary>
/// Streaming-read bandwidth over a 1 GiB buffer with 2 threads, the ceiling a GEMV is judged against: one read pass
/// per call, GB/s = 1.0737 / mean seconds. The buffer is allocated and written once in setup: writing a fresh GiB
/// (its page faults) takes many times longer than reading it, and timed with the read it made the pass read as
/// 1.6 s, about 0.7 GB/s.
/// </summary>
[Config(typeof(Config))]
public unsafe class BandwidthBenchmarks
{
    private int* _buffer;

    [GlobalSetup]
    public void Setup() => _buffer = BandwidthProbe.AllocateFilled();

    [GlobalCleanup]
    public void Cleanup() => NativeMemory.AlignedFree(_buffer);

    [Benchmark]
    public double StreamingRead() => BandwidthProbe.ReadSeconds(_buffer, 2);

    private sealed class Config : ManualConfig
    {
        public Config() => AddJob(Job.ShortRun.WithWarmupCount(1).WithIterationCount(3).WithLaunchCount(1));
    }
}
