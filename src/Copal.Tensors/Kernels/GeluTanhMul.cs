using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// The GeGLU gate of Gemma: gelu_tanh(gate) · up, with PyTorch's tanh approximation
/// gelu_tanh(g) = ½·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))).
/// </summary>
/// <remarks>
/// ½(1 + tanh(z)) = 1 / (1 + e^(−2z)), so gelu_tanh(g) = g / (1 + e^(−2z)): one exponential, the form
/// <see cref="SiluMul"/> already vectorizes, and no tanh (which Vector256 lacks). Saturates cleanly: for very negative
/// g, e^(−2z) overflows to +∞ and the result is −0; for very positive g it is g.
/// </remarks>
internal static class GeluTanhMul
{
    /// <summary>2·√(2/π): the factor of (g + 0.044715·g³) in the exponent.</summary>
    public const float TwoSqrtTwoOverPi = 1.5957691216057308f;

    /// <summary>The cubic coefficient of the tanh approximation.</summary>
    public const float Cubic = 0.044715f;

    /// <summary>destination[i] = gelu_tanh(gate[i]) · up[i]; destination may alias gate or up (each element is read before written).</summary>
    public static void Compute(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination) =>
        GateProduct.Compute<GeluTanh>("gelu·mul", gate, up, destination);

    /// <summary>gelu_tanh(g) · u for one element, where Vector256 is not accelerated.</summary>
    public static float Times(float g, float u) => g / (1f + MathF.Exp(-TwoSqrtTwoOverPi * (g + (Cubic * g * g * g)))) * u;

    private readonly struct GeluTanh : IGateProduct
    {
        public static Vector256<float> Apply(Vector256<float> g, Vector256<float> u) =>
            g / (Vector256<float>.One + Vector256.Exp((g + (Vector256.Create(Cubic) * g * g * g)) * Vector256.Create(-TwoSqrtTwoOverPi))) * u;

        public static float Apply(float g, float u) => Times(g, u);
    }
}
