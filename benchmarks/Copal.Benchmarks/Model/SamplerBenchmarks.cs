using BenchmarkDotNet.Attributes;
using Copal.Model.Generation;
using Copal.Model.Tests.Generation;

namespace Copal.Benchmarks.Model;

/// <summary>
/// One sampled token from a row of logits, against the sampler that sorted the whole vocabulary first
/// (<see cref="FullSortSampler"/>, the tests' reference), on a 32k and a 128k vocabulary. "peaked" logits are normal
/// with σ 3, a model's shape: a few tokens hold the mass and most of the vocabulary lies far below; "flat" ones are
/// uniform in [0, 6), the worst case for ranking only what matters. Each call samples from a fresh copy of one of 16
/// rows. Run: dotnet run -c Release --project benchmarks/Copal.Benchmarks -- --filter *SamplerBenchmarks*
/// </summary>
public class SamplerBenchmarks
{
    private float[][] _rows = [];
    private float[] _work = [];
    private int _next;
    private Sampler _sampler = null!;
    private FullSortSampler _fullSort = null!;

    [Params(32000, 128256)]
    public int Vocabulary { get; set; }

    [Params("peaked", "flat")]
    public string Shape { get; set; } = "peaked";

    [Params("T1", "T0.8-topP0.95", "T0.7-topK40")]
    public string Setting { get; set; } = "T1";

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Pcg32(1);
        _rows = [.. Enumerable.Range(0, 16).Select(_ => Enumerable.Range(0, Vocabulary).Select(_ => Shape == "peaked" ? 3 * Normal(rng) : 6 * rng.NextFloat()).ToArray())];
        _work = new float[Vocabulary];
        SamplingOptions options = Setting switch
        {
            "T1" => new SamplingOptions { Temperature = 1f, Seed = 2 },
            "T0.8-topP0.95" => new SamplingOptions { Temperature = 0.8f, TopP = 0.95f, Seed = 2 },
            _ => new SamplingOptions { Temperature = 0.7f, TopK = 40, Seed = 2 },
        };
        _sampler = new Sampler(options);
        _fullSort = new FullSortSampler(options);
    }

    [Benchmark]
    public int RankedPrefix() => _sampler.Sample(NextRow(), []);

    [Benchmark(Baseline = true)]
    public int FullSort() => _fullSort.Sample(NextRow());

    private float[] NextRow()
    {
        _rows[_next++ % _rows.Length].CopyTo(_work, 0);
        return _work;
    }

    // Box–Muller.
    private static float Normal(Pcg32 rng) =>
        MathF.Sqrt(-2 * MathF.Log(1 - rng.NextFloat())) * MathF.Cos(2 * MathF.PI * rng.NextFloat());
}
