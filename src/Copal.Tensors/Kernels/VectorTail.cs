using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// The last few elements of an elementwise gate through the same vector formula as the rest, zero-padded to a whole
/// vector. A scalar tail (MathF.Exp) rounds differently from Vector256.Exp, so an element's result depended on where
/// the range ended: on how many rows shared a batched step, or on the threads' split of the range. With the tail in
/// the vector formula every element gets the same bits wherever it falls.
/// </summary>
internal static class VectorTail
{
    /// <summary>destination[0..n) = apply(gate, up) for n = gate.Length &lt; 8; destination may alias gate or up.</summary>
    public static void Apply(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination,
        Func<Vector256<float>, Vector256<float>, Vector256<float>> apply)
    {
        Span<float> g = stackalloc float[Vector256<float>.Count];
        Span<float> u = stackalloc float[Vector256<float>.Count];
        Span<float> y = stackalloc float[Vector256<float>.Count];
        g.Clear();
        u.Clear();
        gate.CopyTo(g);
        up.CopyTo(u);
        apply(Vector256.Create(g), Vector256.Create(u)).CopyTo(y);
        y[..gate.Length].CopyTo(destination);
    }
}
