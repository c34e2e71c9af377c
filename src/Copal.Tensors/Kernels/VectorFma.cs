using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// a·b + c with one rounding, at both SIMD widths: the kernels import it (<c>using static</c>) so their inner loops
/// read as the arithmetic they do. Every kernel that must agree bit for bit with another uses this one form.
/// </summary>
internal static class VectorFma
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Fma(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
        Vector512.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Vector256.FusedMultiplyAdd(a, b, c);
}
