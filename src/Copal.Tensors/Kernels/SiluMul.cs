using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>The SwiGLU gate: silu(gate) · up with silu(g) = g / (1 + e^(−g)).</summary>
internal static class SiluMul
{
    /// <summary>destination[i] = silu(gate[i]) · up[i]; destination may alias gate or up (each element is read before written).</summary>
    public static void Compute(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination) =>
        GateProduct.Compute<Silu>("silu·mul", gate, up, destination);

    private readonly struct Silu : IGateProduct
    {
        public static Vector256<float> Apply(Vector256<float> g, Vector256<float> u) => g / (Vector256<float>.One + Vector256.Exp(-g)) * u;

        public static float Apply(float g, float u) => g / (1f + MathF.Exp(-g)) * u;
    }
}
