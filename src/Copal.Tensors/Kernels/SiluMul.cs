using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>The SwiGLU gate: silu(gate) · up with silu(g) = g / (1 + e^(−g)).</summary>
public static class SiluMul
{
    /// <summary>destination[i] = silu(gate[i]) · up[i]; destination may alias gate or up (each element is read before written).</summary>
    public static void Compute(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
    {
        if (up.Length != gate.Length || destination.Length != gate.Length)
        {
            throw new ArgumentException($"silu·mul lengths: gate {gate.Length}, up {up.Length}, destination {destination.Length}; all must match");
        }
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= gate.Length; i += 8)
            {
                Apply(Vector256.Create(gate.Slice(i, 8)), Vector256.Create(up.Slice(i, 8))).CopyTo(destination.Slice(i, 8));
            }
            if (i < gate.Length)
            {
                // The tail in the same formula: an element's bits do not depend on where the range ends (VectorTail).
                VectorTail.Apply(gate[i..], up[i..], destination[i..], Apply);
            }
            return;
        }
        for (; i < gate.Length; i++)
        {
            float g = gate[i];
            destination[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }

    private static Vector256<float> Apply(Vector256<float> g, Vector256<float> u) => g / (Vector256<float>.One + Vector256.Exp(-g)) * u;
}
