using System.Runtime.InteropServices;
using Copal.Tensors;
using Copal.Tensors.Numerics;

namespace Copal.Prune.Driver;

/// <summary>Turns f32 working weights back into the checkpoint's stored dtype (exact zeros stay exact zeros).</summary>
public static class WeightEncoding
{
    /// <summary>
    /// Writes <paramref name="weight"/> into <paramref name="destination"/> as <paramref name="dtype"/> (F32 copied, BF16
    /// and F16 rounded to nearest); destination holds weight.Length elements of that dtype.
    /// </summary>
    /// <exception cref="NotSupportedException"><paramref name="dtype"/> is not F32, F16 or BF16.</exception>
    public static void Encode(ReadOnlySpan<float> weight, DType dtype, Span<byte> destination)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.AsBytes(weight).CopyTo(destination);
                break;
            case DType.BF16:
                FloatConvert.FromSingle(weight, MemoryMarshal.Cast<byte, ushort>(destination));
                break;
            case DType.F16:
                FloatConvert.FromSingle(weight, MemoryMarshal.Cast<byte, Half>(destination));
                break;
            default:
                throw new NotSupportedException($"weights of dtype {dtype} cannot be pruned (expected F32, F16 or BF16)");
        }
    }
}
