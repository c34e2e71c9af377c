using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>An elementwise gate f(g)·u of a gated MLP: its vector formula, and its scalar one where Vector256 is not accelerated.</summary>
internal interface IGateProduct
{
    static abstract Vector256<float> Apply(Vector256<float> g, Vector256<float> u);

    static abstract float Apply(float g, float u);
}

/// <summary>The one loop of the gates (<see cref="SiluMul"/>, <see cref="GeluTanhMul"/>), each plugged in as an <see cref="IGateProduct"/>.</summary>
internal static class GateProduct
{
    /// <summary>
    /// destination[i] = TGate(gate[i], up[i]); destination may alias gate or up (each element is read before written).
    /// <paramref name="name"/> names the gate in the error for lengths that differ.
    /// </summary>
    public static void Compute<TGate>(string name, ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
        where TGate : IGateProduct
    {
        if (up.Length != gate.Length || destination.Length != gate.Length)
        {
            throw new ArgumentException($"{name} lengths: gate {gate.Length}, up {up.Length}, destination {destination.Length}; all must match");
        }
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= gate.Length; i += 8)
            {
                TGate.Apply(Vector256.Create(gate.Slice(i, 8)), Vector256.Create(up.Slice(i, 8))).CopyTo(destination.Slice(i, 8));
            }
            if (i < gate.Length)
            {
                // The tail in the same formula: an element's bits do not depend on where the range ends (VectorTail).
                VectorTail.Apply(gate[i..], up[i..], destination[i..], static (g, u) => TGate.Apply(g, u));
            }
            return;
        }
        for (; i < gate.Length; i++)
        {
            destination[i] = TGate.Apply(gate[i], up[i]);
        }
    }
}
