namespace Copal.Prune.Continual;

/// <summary>
/// A symmetric [n, n] matrix stored as its upper triangle, row by row: row i holds columns i..n−1, so element (i, j)
/// with i ≤ j is at i·n − i·(i−1)/2 + (j − i). n·(n+1)/2 values, about half of the full matrix.
/// </summary>
internal static class PackedSymmetric
{
    /// <summary>n·(n+1)/2.</summary>
    public static long Length(int n) => (long)n * (n + 1) / 2;

    /// <summary>The upper triangle of <paramref name="full"/> [n, n] into <paramref name="packed"/>.</summary>
    public static void Pack(ReadOnlySpan<float> full, Span<float> packed, int n)
    {
        Check(full.Length, packed.Length, n);
        long k = 0;
        for (int i = 0; i < n; i++)
        {
            int count = n - i;
            full.Slice((i * n) + i, count).CopyTo(packed.Slice((int)k, count));
            k += count;
        }
    }

    /// <summary>The full symmetric matrix [n, n] from its upper triangle <paramref name="packed"/>.</summary>
    public static void Unpack(ReadOnlySpan<float> packed, Span<float> full, int n)
    {
        Check(full.Length, packed.Length, n);
        long k = 0;
        for (int i = 0; i < n; i++)
        {
            int count = n - i;
            ReadOnlySpan<float> row = packed.Slice((int)k, count);
            row.CopyTo(full.Slice((i * n) + i, count));
            for (int j = 1; j < count; j++)
            {
                full[((i + j) * n) + i] = row[j];
            }
            k += count;
        }
    }

    /// <summary>Makes <paramref name="full"/> [n, n] exactly symmetric by copying its upper triangle onto the lower one.</summary>
    public static void MirrorUpper(Span<float> full, int n)
    {
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                full[(j * n) + i] = full[(i * n) + j];
            }
        }
    }

    private static void Check(long full, long packed, int n)
    {
        if (full != (long)n * n || packed != Length(n))
        {
            throw new PruningShapeException($"a packed symmetric matrix of order {n} needs {(long)n * n} full and {Length(n)} packed values, got {full} and {packed}", nameof(n));
        }
    }
}
