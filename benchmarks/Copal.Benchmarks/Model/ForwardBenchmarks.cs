using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Benchmarks.Model;

/// <summary>
/// Whole-model throughput on a synthetic model in real shapes (written once to a temp folder at setup): one decode
/// step with a warm KV cache, and a prefill of 128 tokens. Tokens/s = 1 / decode time and 128 / prefill time.
/// `copal bench` measures the same against same-run bandwidth and GEMM ceilings; this suite is for profiling with
/// BenchmarkDotNet's statistics. Select the model with COPAL_BENCH_PRESET (default 100m; tinyllama-1.1b for the figures).
/// </summary>
[SimpleJob(RunStrategy.Monitoring, warmupCount: 1, iterationCount: 5)]
public class ForwardBenchmarks : IDisposable
{
    private string _dir = "";
    private CpuBackend _backend = null!;
    private LlamaModel _model = null!;
    private RunState _decodeState = null!;
    private RunState _prefillState = null!;
    private int[] _prompt = [];

    [Params(DType.BF16, DType.F32)]
    public DType Dtype { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        string preset = Environment.GetEnvironmentVariable("COPAL_BENCH_PRESET") ?? "100m";
        _dir = Path.Combine(Path.GetTempPath(), $"copal-bench-{preset}-{Dtype}");
        if (!File.Exists(Path.Combine(_dir, "model.safetensors")))
        {
            SyntheticModelWriter.Write(SyntheticPresets.Get(preset), _dir, Dtype, seed: 0, tokenizerDirectory: null, overwrite: true);
        }
        _backend = new CpuBackend();
        _model = LlamaModel.Load(_dir, _backend, Copal.Tensors.Sparse.SparseLoadMode.Off, residence: Copal.Tensors.Safetensors.WeightResidence.Auto);
        _decodeState = _model.CreateState(1, 256);
        _prefillState = _model.CreateState(128, 256);
        _prompt = Enumerable.Range(0, 128).Select(i => 100 + i * 7 % 1000).ToArray();
        _model.Forward(_decodeState, _prompt, 0, LogitsMode.Last);
    }

    [Benchmark(Description = "decode one token (position 128)")]
    public void Decode() => _model.Forward(_decodeState, [42], 128, LogitsMode.Last);

    [Benchmark(Description = "prefill 128 tokens")]
    public void Prefill() => _model.Forward(_prefillState, _prompt, 0, LogitsMode.Last);

    [GlobalCleanup]
    public void Cleanup() => Dispose();

    public void Dispose()
    {
        _decodeState.Dispose();
        _prefillState.Dispose();
        _model.Dispose();
        _backend.Dispose();
        GC.SuppressFinalize(this);
    }
}
