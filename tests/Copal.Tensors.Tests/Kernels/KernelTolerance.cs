using Copal.Testing;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>
/// The one place the kernel tests scale <see cref="Tolerances.KernelAbsolute"/>: an f32 sum of n terms of
/// magnitude m, accumulated in a different order than the double reference, drifts like √n·m·ε for random signs,
/// so the absolute floor grows with √n and with the typical term size.
/// </summary>
internal static class KernelTolerance
{
    /// <summary>Absolute floor for a sum of <paramref name="terms"/> products each of magnitude about <paramref name="termMagnitude"/>.</summary>
    public static double ForSum(int terms, double termMagnitude = 1) =>
        Tolerances.KernelAbsolute * Math.Max(1, termMagnitude) * Math.Sqrt(Math.Max(1, terms));

    /// <summary>Asserts a dot-product-shaped result against its reference.</summary>
    public static void AssertSums(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, int terms, string what, double termMagnitude = 1) =>
        Tolerances.AssertClose(actual, expected, Tolerances.KernelRelative, ForSum(terms, termMagnitude), what);
}
