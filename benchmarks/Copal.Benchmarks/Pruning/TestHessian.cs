namespace Copal.Benchmarks.Pruning;

/// <summary>A well-conditioned symmetric positive definite [n, n] matrix (diagonal n, off-diagonal in ±0.5), row-major.</summary>
internal static class TestHessian
{
    public static double[] Create(int n, Random rng)
    {
        var h = new double[(long)n * n];
        for (int i = 0; i < n; i++)
        {
            h[((long)i * n) + i] = n;
            for (int j = 0; j < i; j++)
            {
                double v = rng.NextDouble() - 0.5;
                h[((long)i * n) + j] = v;
                h[((long)j * n) + i] = v;
            }
        }
        return h;
    }
}
