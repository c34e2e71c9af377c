using System.Runtime.CompilerServices;

namespace Copal.Tensors.Sparse;

/// <summary>bfloat16 ↔ f32: BF16 is the upper half of an IEEE f32.</summary>
internal static class Bf16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>True for +0 and −0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsZero(ushort bits) => (bits & 0x7FFF) == 0;
}
