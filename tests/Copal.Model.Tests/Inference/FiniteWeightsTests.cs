using System.Runtime.InteropServices;
using Copal.Model.Weights;
using Copal.Tensors;

namespace Copal.Model.Tests.Inference;

/// <summary>The load-time scan names the first tensor holding NaN/Inf and its first index, across the parallel chunks.</summary>
public sealed unsafe class FiniteWeightsTests : IDisposable
{
    private readonly List<nint> _blocks = [];

    private TensorView BF16(string name, long[] shape, params (long Index, ushort Bits)[] set)
    {
        long count = shape.Aggregate(1L, (a, b) => a * b);
        var data = (ushort*)NativeMemory.AllocZeroed((nuint)(count * 2));
        _blocks.Add((nint)data);
        foreach ((long index, ushort bits) in set)
        {
            data[index] = bits;
        }
        return new TensorView(name, DType.BF16, shape, (byte*)data, count * 2);
    }

    [Fact]
    public void Reports_the_lowest_index_of_the_first_bad_tensor_even_when_later_chunks_hit_too()
    {
        // 9 Mi elements span three scan chunks; both later chunks hold bad values, the earlier one the first.
        TensorView clean = BF16("a.weight", [16]);
        TensorView big = BF16("b.weight", [3, 3L << 20], ((5L << 20) + 7, 0xFF80), ((8L << 20) + 1, 0x7FC0));
        TensorView later = BF16("c.weight", [4], (0, 0x7FC0));
        var e = Assert.Throws<ModelLoadException>(() => FiniteWeights.Require([clean, big, later], "model-dir"));
        Assert.Equal("model-dir: tensor 'b.weight' holds -Inf at [1, 2097159] (its first non-finite value); the weights are damaged or " +
            "come from a diverged run", e.Message);
        Assert.True(e.NonFiniteWeights);
        FiniteWeights.Require([clean], "model-dir");
    }

    public void Dispose()
    {
        foreach (nint block in _blocks)
        {
            NativeMemory.Free((void*)block);
        }
    }
}
