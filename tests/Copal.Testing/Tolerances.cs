namespace Copal.Testing;

/// <summary>
/// The tolerance policy, written down once (docs/testing.md explains it). Every test that compares floating-point
/// results uses one of these, never a literal of its own.
/// </summary>
public static class Tolerances
{
    /// <summary>A SIMD kernel against its scalar reference: relative error per element, after an absolute floor.</summary>
    public const double KernelRelative = 1e-5;

    /// <summary>Absolute floor for kernel comparisons, scaled by the magnitude of the inputs (sums of many terms).</summary>
    public const double KernelAbsolute = 1e-5;

    /// <summary>A GPU backend against the CPU in f32: normalized mean squared error, as ggml's test-backend-ops uses.</summary>
    public const double BackendNmse = 1e-7;

    /// <summary>End-to-end logits against an independent reference implementation: max absolute difference.</summary>
    public const double LogitsAbsolute = 1e-4;

    /// <summary>Perplexity against a reference, or across backends: relative difference.</summary>
    public const double PerplexityRelative = 1e-4;

    /// <summary>An elementary function's SIMD approximation (the softmax exp) against the same function in double: units in the last place.</summary>
    public const int ElementaryUlps = 2;

    /// <summary>
    /// The margin a reference's greedy choice must win by for greedy text to be compared for identity: ten times
    /// <see cref="LogitsAbsolute"/>. A run whose logits are within that bound of the reference's (another backend,
    /// another summation order) must then choose the same token, so identical text is a property, not luck.
    /// </summary>
    public const double GreedyMargin = 10 * LogitsAbsolute;

    /// <summary>Asserts that <paramref name="chosen"/> is the top logit by more than <see cref="GreedyMargin"/>.</summary>
    public static void AssertDecisive(ReadOnlySpan<float> logits, int chosen, string what)
    {
        float best = logits[chosen];
        float second = float.NegativeInfinity;
        for (int id = 0; id < logits.Length; id++)
        {
            if (id != chosen)
            {
                second = Math.Max(second, logits[id]);
            }
        }
        if (!(best - second > GreedyMargin))
        {
            throw new Xunit.Sdk.XunitException($"{what} is a near tie: token {chosen} at {best:R}, the runner-up at {second:R} (margin ≤ {GreedyMargin:E1})");
        }
    }

    /// <summary>Normalized mean squared error: Σ(a−b)² / Σb².</summary>
    public static double Nmse(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        if (actual.Length != expected.Length)
        {
            throw new ArgumentException($"length {actual.Length} vs expected {expected.Length}");
        }
        double num = 0, den = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double d = (double)actual[i] - expected[i];
            num += d * d;
            den += (double)expected[i] * expected[i];
        }
        return den == 0 ? num : num / den;
    }

    /// <summary>
    /// Asserts |actual − expected| ≤ absolute + relative·|expected| element-wise and names the first index that fails.
    /// </summary>
    public static void AssertClose(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected,
        double relative = KernelRelative, double absolute = KernelAbsolute, string what = "values")
    {
        if (actual.Length != expected.Length)
        {
            throw new Xunit.Sdk.XunitException($"{what}: length {actual.Length}, expected {expected.Length}");
        }
        for (int i = 0; i < actual.Length; i++)
        {
            double diff = Math.Abs((double)actual[i] - expected[i]);
            if (!(diff <= absolute + relative * Math.Abs(expected[i])))
            {
                throw new Xunit.Sdk.XunitException(
                    $"{what}[{i}] = {actual[i]:R}, expected {expected[i]:R} (|diff| {diff:E3} > {absolute:E1} + {relative:E1}·|expected|)");
            }
        }
    }

    /// <summary>Asserts NMSE ≤ <see cref="BackendNmse"/> (or the given bound).</summary>
    public static void AssertNmse(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double bound = BackendNmse, string what = "values")
    {
        double nmse = Nmse(actual, expected);
        if (!(nmse <= bound))
        {
            throw new Xunit.Sdk.XunitException($"{what}: NMSE {nmse:E3} > {bound:E1}");
        }
    }
}
