using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// exp(x) for softmax arguments (x ≤ 0 after the row maximum is subtracted; valid up to 88) in single precision: the Cephes
/// expf scheme, x = n·ln 2 + r with |r| ≤ ln 2 / 2, a degree-6 polynomial for e^r and 2^n put into the exponent bits.
/// </summary>
/// <remarks>
/// The runtime's Vector512.Exp(float) widens to double and narrows back, work spent on an accuracy softmax cannot
/// use: on a 2²⁰-point grid of [−87, 0] the error here is at most 1 ulp from exp in double (the
/// tolerance policy allows 2). Arguments below −87 give 0 where the true value is below 1.7·10⁻³⁸:
/// such a key weighs nothing next to the row's maximum, which weighs 1. With stories260K's 8-wide heads the softmax
/// (its exp, max and passes) was about 15% of a perplexity run's CPU samples.
/// </remarks>
internal static class SoftmaxExp
{
    /// <summary>Arguments below this return 0 (2⁻¹²⁶, the smallest normal float, is e^−87.34).</summary>
    public const float Floor = -87f;

    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f; // ln 2 split so that n·Ln2Hi is exact for |n| ≤ 126
    private const float Ln2Lo = -2.12194440e-4f;
    private const float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f;
    private const float P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        // Lanes below the floor are masked to 0 at the end (their n may be out of range); NaN stays NaN.
        Vector512<float> underflow = Vector512.LessThan(x, Vector512.Create(Floor));
        Vector512<float> n = Vector512.Round(x * Vector512.Create(Log2E));
        Vector512<float> r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Hi), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-Ln2Lo), r);
        Vector512<float> p = Vector512.FusedMultiplyAdd(Vector512.Create(P0), r, Vector512.Create(P1));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P2));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P3));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P4));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(P5));
        p = Vector512.FusedMultiplyAdd(p, r * r, r) + Vector512<float>.One;
        Vector512<float> scale = Vector512.ShiftLeft(Vector512.ConvertToInt32(n) + Vector512.Create(127), 23).AsSingle();
        return Vector512.AndNot(p * scale, underflow);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        // Lanes below the floor are masked to 0 at the end (their n may be out of range); NaN stays NaN.
        Vector256<float> underflow = Vector256.LessThan(x, Vector256.Create(Floor));
        Vector256<float> n = Vector256.Round(x * Vector256.Create(Log2E));
        Vector256<float> r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Hi), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-Ln2Lo), r);
        Vector256<float> p = Vector256.FusedMultiplyAdd(Vector256.Create(P0), r, Vector256.Create(P1));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P2));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P3));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P4));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(P5));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        Vector256<float> scale = Vector256.ShiftLeft(Vector256.ConvertToInt32(n) + Vector256.Create(127), 23).AsSingle();
        return Vector256.AndNot(p * scale, underflow);
    }

    /// <summary>The same computation for one value (the tails of the vector loops), so a row's result does not depend on its length.</summary>
    public static float Exp(float x)
    {
        if (x < Floor)
        {
            return 0f;
        }
        float n = MathF.Round(x * Log2E);
        float r = MathF.FusedMultiplyAdd(n, -Ln2Hi, x);
        r = MathF.FusedMultiplyAdd(n, -Ln2Lo, r);
        float p = MathF.FusedMultiplyAdd(P0, r, P1);
        p = MathF.FusedMultiplyAdd(p, r, P2);
        p = MathF.FusedMultiplyAdd(p, r, P3);
        p = MathF.FusedMultiplyAdd(p, r, P4);
        p = MathF.FusedMultiplyAdd(p, r, P5);
        p = MathF.FusedMultiplyAdd(p, r * r, r) + 1f;
        return p * BitConverter.Int32BitsToSingle(((int)n + 127) << 23);
    }
}
