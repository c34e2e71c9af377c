using Copal.Tensors.Backends.Ilgpu.Kernels;

namespace Copal.Tensors.Tests.Backends;

/// <summary>The GPU kernels' half decoding against .NET's <see cref="Half"/>, on every one of the 65,536 bit patterns.</summary>
public sealed class HalfBitsTests
{
    [Fact]
    public void Every_half_decodes_to_the_same_single_as_dotnet()
    {
        for (uint bits = 0; bits <= ushort.MaxValue; bits++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            float actual = HalfBits.ToSingle(bits);
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(actual), $"0x{bits:X4}: expected NaN, got {actual}");
                Assert.Equal(float.IsNegative(expected), float.IsNegative(actual));
                continue;
            }
            Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
                $"0x{bits:X4}: expected {expected} (0x{BitConverter.SingleToUInt32Bits(expected):X8}), got {actual} (0x{BitConverter.SingleToUInt32Bits(actual):X8})");
        }
    }
}
