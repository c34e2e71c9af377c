using BenchmarkDotNet.Attributes;
using Copal.Tensors.Numerics;

namespace Copal.Benchmarks;

/// <summary>
/// bf16/f16 ↔ f32 over a 4096×4096 weight (16 Mi elements), each against the plain scalar loop in the same run
/// (the baseline), so the ratio is the SIMD gain. Throughput in GB/s = (2 + 4 bytes) × elements / time.
/// </summary>
[MemoryDiagnoser]
public class FloatConvertBenchmarks
{
    private const int Count = 4096 * 4096;
    private ushort[] _bf16 = [];
    private Half[] _f16 = [];
    private float[] _f32 = [];

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(1);
        _f32 = new float[Count];
        _bf16 = new ushort[Count];
        _f16 = new Half[Count];
        for (int i = 0; i < Count; i++)
        {
            _f32[i] = (float)(random.NextDouble() * 2 - 1);
        }
        FloatConvert.FromSingle(_f32, _bf16);
        FloatConvert.FromSingle(_f32, _f16);
    }

    [Benchmark(Baseline = true)]
    public void BF16ToSingle_Scalar()
    {
        for (int i = 0; i < _bf16.Length; i++)
        {
            _f32[i] = FloatConvert.BF16ToSingle(_bf16[i]);
        }
    }

    [Benchmark]
    public void BF16ToSingle_Span() => FloatConvert.ToSingle(_bf16, _f32);

    [Benchmark]
    public void SingleToBF16_Scalar()
    {
        for (int i = 0; i < _f32.Length; i++)
        {
            _bf16[i] = FloatConvert.SingleToBF16(_f32[i]);
        }
    }

    [Benchmark]
    public void SingleToBF16_Span() => FloatConvert.FromSingle(_f32, _bf16);

    [Benchmark]
    public void HalfToSingle_Span() => FloatConvert.ToSingle(_f16, _f32);

    [Benchmark]
    public void SingleToHalf_Span() => FloatConvert.FromSingle(_f32, _f16);
}
