using System.Runtime.InteropServices;
using Copal.Tensors.Numerics;
using Copal.Tensors.Tests.Sparse;

namespace Copal.Tensors.Tests.Numerics;

/// <summary>The vectorized NaN/Inf search against a scalar reference, over every length 1..256 (every SIMD tail) and every dtype.</summary>
public sealed class NonFiniteTests
{
    public static TheoryData<DType> Dtypes => new() { DType.F32, DType.F16, DType.BF16, DType.F64 };

    private static byte[] Encode(DType dtype, double[] values) => dtype switch
    {
        DType.F32 => MemoryMarshal.AsBytes(values.Select(v => (float)v).ToArray().AsSpan()).ToArray(),
        DType.F16 => MemoryMarshal.AsBytes(values.Select(v => (Half)v).ToArray().AsSpan()).ToArray(),
        DType.BF16 => MemoryMarshal.AsBytes(values.Select(v => FloatConvert.SingleToBF16((float)v)).ToArray().AsSpan()).ToArray(),
        _ => MemoryMarshal.AsBytes(values.AsSpan()).ToArray(),
    };

    [Theory]
    [MemberData(nameof(Dtypes))]
    public void Finds_the_first_non_finite_value_at_every_length_and_position(DType dtype)
    {
        var random = new Random(7);
        double[] specials = [double.NaN, double.PositiveInfinity, double.NegativeInfinity];
        for (int length = 1; length <= 256; length++)
        {
            // Large finite values (near each type's maximum exponent, not at it) must not count.
            double[] values = Enumerable.Range(0, length).Select(i => (random.NextDouble() - 0.5) * (i % 7 == 0 ? 60000 : 4)).ToArray();
            using (var clean = new PinnedTensor("t", dtype, [length], Encode(dtype, values)))
            {
                Assert.Equal(-1, NonFinite.IndexOf(clean.View, 0, length));
            }
            foreach (int position in new[] { 0, length / 2, length - 1 }.Distinct())
            {
                double[] bad = (double[])values.Clone();
                bad[position] = specials[position % 3];
                if (position + 1 < length)
                {
                    bad[length - 1] = double.NaN; // a later one must not win
                }
                using var tensor = new PinnedTensor("t", dtype, [length], Encode(dtype, bad));
                Assert.Equal(position, NonFinite.IndexOf(tensor.View, 0, length));
                Assert.Equal(-1, NonFinite.IndexOf(tensor.View, 0, position));
                Assert.Equal(new[] { "NaN", "+Inf", "-Inf" }[position % 3], NonFinite.Describe(tensor.View, position));
            }
        }
    }

    [Fact]
    public void A_range_is_searched_from_its_start()
    {
        float[] values = new float[100];
        values[10] = float.NaN;
        values[60] = float.NegativeInfinity;
        using var tensor = new PinnedTensor("t", DType.F32, [10, 10], MemoryMarshal.AsBytes(values.AsSpan()));
        Assert.Equal(10, NonFinite.IndexOf(tensor.View, 0, 100));
        Assert.Equal(60, NonFinite.IndexOf(tensor.View, 11, 89));
        Assert.Equal(-1, NonFinite.IndexOf(tensor.View, 61, 39));
        Assert.Equal("[6, 0]", NonFinite.Coordinates(60, tensor.View.Shape));
        Assert.Equal(10, NonFinite.IndexOf(values));
    }

    [Fact]
    public void Integer_tensors_are_never_non_finite()
    {
        using var tensor = new PinnedTensor("t", DType.U8, [4], [0xFF, 0xFF, 0x7F, 0x80]);
        Assert.Equal(-1, NonFinite.IndexOf(tensor.View, 0, 4));
    }
}
