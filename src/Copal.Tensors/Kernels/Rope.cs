using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Rotary position embedding in the Hugging Face rotate-half layout over the first rotaryDim elements of each head
/// (the whole head but where a config's partial_rotary_factor says less): element i &lt; rotaryDim/2 pairs with
/// i + rotaryDim/2 and (a, b) becomes (a·cos − b·sin, b·cos + a·sin); the elements past rotaryDim pass unchanged,
/// as in HF's <c>apply_rotary_pos_emb</c> with a narrower cos. Products and sums are rounded separately (no FMA), as
/// torch's elementwise ops do, so results match HF bit for bit when the tables match.
/// </summary>
internal static class Rope
{
    /// <summary>
    /// Rotates one row x [heads·headDim] in place at <paramref name="position"/> using tables cos/sin [maxPos, rotaryDim/2].
    /// </summary>
    public static void Apply(Span<float> x, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, int heads, int headDim, int rotaryDim, int position)
    {
        RequireRotary(headDim, rotaryDim);
        if (x.Length < heads * headDim)
        {
            throw new ArgumentException($"row has {x.Length} elements, expected {heads}·{headDim} = {heads * headDim}", nameof(x));
        }
        int half = rotaryDim / 2;
        if (position < 0 || (long)(position + 1) * half > cos.Length || cos.Length != sin.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(position),
                $"position {position} outside the rope tables ({cos.Length / half} positions of {half}; sin has {sin.Length} elements)");
        }
        ReadOnlySpan<float> c = cos.Slice(position * half, half);
        ReadOnlySpan<float> s = sin.Slice(position * half, half);
        for (int h = 0; h < heads; h++)
        {
            Span<float> a = x.Slice(h * headDim, half);
            Span<float> b = x.Slice(h * headDim + half, half);
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i + 8 <= half; i += 8)
                {
                    Vector256<float> va = Vector256.Create(a.Slice(i, 8)), vb = Vector256.Create(b.Slice(i, 8));
                    Vector256<float> vc = Vector256.Create(c.Slice(i, 8)), vs = Vector256.Create(s.Slice(i, 8));
                    Vector256<float> na = (va * vc) + -(vb * vs);
                    Vector256<float> nb = (vb * vc) + (va * vs);
                    na.CopyTo(a.Slice(i, 8));
                    nb.CopyTo(b.Slice(i, 8));
                }
            }
            for (; i < half; i++)
            {
                float va = a[i], vb = b[i];
                a[i] = (va * c[i]) + -(vb * s[i]);
                b[i] = (vb * c[i]) + (va * s[i]);
            }
        }
    }

    /// <summary>Rows [rowStart, rowEnd) of x [rows, heads·headDim]; row r is at position startPos + r.</summary>
    public static void Rows(Span<float> x, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, int heads, int headDim, int rotaryDim, int startPos, int rowStart, int rowEnd)
    {
        int width = heads * headDim;
        for (int r = rowStart; r < rowEnd; r++)
        {
            Apply(x.Slice(r * width, width), cos, sin, heads, headDim, rotaryDim, startPos + r);
        }
    }

    /// <summary>Throws unless the head width is even and positive and the turned part is an even width within it.</summary>
    public static void RequireRotary(int headDim, int rotaryDim)
    {
        if (headDim <= 0 || headDim % 2 != 0 || rotaryDim <= 0 || rotaryDim % 2 != 0 || rotaryDim > headDim)
        {
            throw new ArgumentException(FormattableString.Invariant(
                $"headDim must be even and positive and rotaryDim even in 2..headDim, got headDim {headDim}, rotaryDim {rotaryDim}"), nameof(rotaryDim));
        }
    }
}
