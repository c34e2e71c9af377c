using Copal.Tensors.Numerics;
using Copal.Tensors.Safetensors;

namespace Copal.Tensors.Tests.Numerics;

public class FloatConvertTests
{
    /// <summary>
    /// Independent bf16 rounding reference: pick the nearer of the two bf16 neighbours in double arithmetic
    /// (exact for these values), ties to the even one, the value past the largest finite rounding to infinity.
    /// </summary>
    private static ushort ReferenceBF16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
        {
            return (ushort)((bits >> 16) | 0x40);
        }
        ushort down = (ushort)(bits >> 16);
        if ((bits & 0xFFFF) == 0)
        {
            return down;
        }
        ushort up = (ushort)(down + 1);
        double x = Math.Abs((double)value);
        double lo = Math.Abs((double)FloatConvert.BF16ToSingle(down));
        // Past the largest finite bf16 the "next" value is 2^128 for rounding purposes (IEEE overflow rule).
        double hi = (up & 0x7FFF) == 0x7F80 ? Math.Pow(2, 128) : Math.Abs((double)FloatConvert.BF16ToSingle(up));
        double dLo = x - lo, dHi = hi - x;
        if (dLo < dHi)
        {
            return down;
        }
        if (dHi < dLo)
        {
            return up;
        }
        return (down & 1) == 0 ? down : up;
    }

    private static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    public static TheoryData<uint> EdgeCases => new()
    {
        0x0000_0000, 0x8000_0000,                 // ±0
        0x3F80_0000, 0x3F80_8000, 0x3F81_8000,     // 1, tie to even (down), tie to even (up)
        0x3F80_7FFF, 0x3F80_8001, 0x3F80_FFFF,     // just below / above a tie, round up to next exponent
        0x0000_0001, 0x0000_8000, 0x0001_8000, 0x0000_7FFF, 0x007F_FFFF, 0x8000_8000, // subnormals
        0x007F_8000, 0x0080_0000,                  // largest subnormal tie → smallest normal
        0x7F7F_7FFF, 0x7F7F_8000, 0x7F7F_FFFF, 0xFF7F_8000, // near max: stays, ties to inf, rounds to inf
        0x7F80_0000, 0xFF80_0000,                  // ±inf
        0x7FC0_0000, 0xFFC0_0000, 0x7F80_0001, 0x7FBF_FFFF, 0xFF80_0001, 0x7FFF_FFFF, // NaNs: quiet, signalling, payload only in low bits
        0xC2F6_E979, 0x4049_0FDB,                  // ordinary values
    };

    [Theory]
    [MemberData(nameof(EdgeCases))]
    public void SingleToBF16_matches_the_reference_on_edge_cases(uint bits)
    {
        ushort actual = FloatConvert.SingleToBF16(F(bits));
        Assert.Equal(ReferenceBF16(F(bits)), actual);
        if (float.IsNaN(F(bits)))
        {
            Assert.True(float.IsNaN(FloatConvert.BF16ToSingle(actual)));
            Assert.Equal(bits >> 31, (uint)actual >> 15);
        }
    }

    [Fact]
    public void Known_roundings()
    {
        Assert.Equal(0x3F80, FloatConvert.SingleToBF16(F(0x3F80_8000)));  // tie, even below
        Assert.Equal(0x3F82, FloatConvert.SingleToBF16(F(0x3F81_8000)));  // tie, even above
        Assert.Equal(0x7F80, FloatConvert.SingleToBF16(F(0x7F7F_8000)));  // overflow to +inf
        Assert.Equal(0x0080, FloatConvert.SingleToBF16(F(0x007F_8000)));  // subnormal rounds up to the smallest normal
        Assert.Equal(0x7FC0, FloatConvert.SingleToBF16(F(0x7F80_0001)));  // signalling NaN made quiet, not inf
    }

    [Fact]
    public void Every_bf16_bit_pattern_round_trips()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = (ushort)i;
        }
        var floats = new float[bits.Length];
        var back = new ushort[bits.Length];
        FloatConvert.ToSingle(bits, floats);
        FloatConvert.FromSingle(floats, back);
        for (int i = 0; i < bits.Length; i++)
        {
            ushort b = (ushort)i;
            Assert.Equal(FloatConvert.BF16ToSingle(b), floats[i]);
            Assert.Equal((uint)b << 16, BitConverter.SingleToUInt32Bits(floats[i]));
            // NaNs come back quiet; everything else exactly.
            ushort expected = (b & 0x7FFF) > 0x7F80 ? (ushort)(b | 0x40) : b;
            Assert.Equal(expected, back[i]);
            Assert.Equal(expected, FloatConvert.SingleToBF16(floats[i]));
        }
    }

    [Fact]
    public void Span_bf16_conversion_matches_scalar_for_every_length_and_random_bits()
    {
        var random = new Random(42);
        for (int length = 0; length <= 130; length++)
        {
            var source = new float[length];
            for (int i = 0; i < length; i++)
            {
                // Random bit patterns reach NaNs, subnormals and ties; every eighth value is an exact tie.
                uint bits = (uint)random.NextInt64(0, 1L << 32);
                source[i] = F(i % 8 == 0 ? (bits & 0xFFFF_0000) | 0x8000 : bits);
            }
            var narrow = new ushort[length + 1];
            FloatConvert.FromSingle(source, narrow);
            var wide = new float[length];
            FloatConvert.ToSingle(narrow.AsSpan(0, length), wide);
            for (int i = 0; i < length; i++)
            {
                Assert.Equal(ReferenceBF16(source[i]), narrow[i]);
                Assert.Equal(FloatConvert.BF16ToSingle(narrow[i]), wide[i]);
            }
            Assert.Equal(0, narrow[length]);
        }
    }

    [Fact]
    public void Every_f16_bit_pattern_converts_like_System_Half_and_round_trips()
    {
        var halves = new Half[65536];
        for (int i = 0; i < halves.Length; i++)
        {
            halves[i] = BitConverter.UInt16BitsToHalf((ushort)i);
        }
        var floats = new float[halves.Length];
        var back = new Half[halves.Length];
        FloatConvert.ToSingle(halves, floats);
        FloatConvert.FromSingle(floats, back);
        for (int i = 0; i < halves.Length; i++)
        {
            Assert.Equal((float)halves[i], floats[i]);
            Assert.Equal(FloatConvert.HalfToSingle((ushort)i), floats[i]);
            if (Half.IsNaN(halves[i]))
            {
                Assert.True(Half.IsNaN(back[i]));
            }
            else
            {
                Assert.Equal((ushort)i, BitConverter.HalfToUInt16Bits(back[i]));
                Assert.Equal((ushort)i, FloatConvert.SingleToHalf(floats[i]));
            }
        }
    }

    [Fact]
    public void Span_f16_narrowing_matches_scalar_Half_rounding()
    {
        var random = new Random(3);
        var source = new float[4099];
        for (int i = 0; i < source.Length; i++)
        {
            // Mix arbitrary bit patterns with values in half's range, where rounding is exercised.
            source[i] = i % 2 == 0 ? F((uint)random.NextInt64(0, 1L << 32)) : (float)(random.NextDouble() * 140000 - 70000) * MathF.Pow(2, -random.Next(0, 30));
        }
        source[0] = F(0x3380_0000); // 2^-24: the smallest f16 subnormal
        source[1] = F(0x3300_0000); // 2^-25: a tie between 0 and it, rounds to even (0)
        source[2] = 65520f;         // ties to infinity
        var halves = new Half[source.Length];
        FloatConvert.FromSingle(source, halves);
        for (int i = 0; i < source.Length; i++)
        {
            Half expected = (Half)source[i];
            Assert.True(Half.IsNaN(expected) ? Half.IsNaN(halves[i]) : BitConverter.HalfToUInt16Bits(expected) == BitConverter.HalfToUInt16Bits(halves[i]),
                $"[{i}] {source[i]:R}: {halves[i]} vs {expected}");
        }
        Assert.Equal(0, BitConverter.HalfToUInt16Bits(halves[1]));
        Assert.True(Half.IsPositiveInfinity(halves[2]));
    }

    [Fact]
    public void Short_destination_is_refused()
    {
        Assert.Throws<ArgumentException>(() => FloatConvert.ToSingle(new ushort[4], new float[3]));
        Assert.Throws<ArgumentException>(() => FloatConvert.FromSingle(new float[4], new ushort[3]));
        Assert.Throws<ArgumentException>(() => FloatConvert.FromSingle(new float[4], new Half[3]));
    }

    [Fact]
    public void Stored_tensors_of_every_float_dtype_convert_to_f32()
    {
        float[] values = [1.5f, -2.25f, 3.0e-3f, 65504f, 0f];
        string path = Path.Combine(Path.GetTempPath(), "copal-fc-" + Guid.NewGuid().ToString("N") + ".safetensors");
        try
        {
            var bf16 = new ushort[values.Length];
            var f16 = new Half[values.Length];
            FloatConvert.FromSingle(values, bf16);
            FloatConvert.FromSingle(values, f16);
            using (var writer = SafetensorsWriter.Create(path,
                [new("f32", DType.F32, [5]), new("bf16", DType.BF16, [5]), new("f16", DType.F16, [5]), new("i32", DType.I32, [1])]))
            {
                writer.Write("f32", System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
                writer.Write("bf16", System.Runtime.InteropServices.MemoryMarshal.AsBytes(bf16.AsSpan()));
                writer.Write("f16", System.Runtime.InteropServices.MemoryMarshal.AsBytes(f16.AsSpan()));
                writer.Write("i32", new byte[4]);
                writer.Commit();
            }
            using SafetensorsFile file = SafetensorsFile.Open(path);
            var result = new float[5];
            FloatConvert.ToSingle(file["f32"], result);
            Assert.Equal(values, result);
            FloatConvert.ToSingle(file["bf16"], result);
            Assert.Equal(bf16.Select(FloatConvert.BF16ToSingle), result);
            FloatConvert.ToSingle(file["f16"], result);
            Assert.Equal(f16.Select(h => (float)h), result);
            Assert.Throws<NotSupportedException>(() => FloatConvert.ToSingle(file["i32"], result));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
