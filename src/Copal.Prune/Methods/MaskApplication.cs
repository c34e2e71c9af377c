namespace Copal.Prune;

/// <summary>The shared tail of the score-and-mask methods: build scores, choose the mask, zero it.</summary>
internal static class MaskApplication
{
    /// <summary>
    /// Per-row selection (Wanda unstructured, all N:M): rows are independent, so they are split over cores.
    /// <paramref name="score"/>(row, span) fills one row's scores; it runs before that row is zeroed, so it may
    /// read <paramref name="w"/>, which is pruned in place.
    /// </summary>
    public static void PerRow(float[] w, int rows, int cols, SparsityPattern pattern, Action<int, Span<double>> score, CancellationToken cancellationToken)
    {
        RowPartition.For(rows, 16, (r0, r1) =>
        {
            var scores = new double[cols];
            var mask = new bool[cols];
            var buffer = new double[cols];
            for (int r = r0; r < r1; r++)
            {
                if ((r & 63) == 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                }
                score(r, scores);
                Array.Clear(mask);
                switch (pattern)
                {
                    case SparsityPattern.Unstructured u:
                        int count = (int)u.CountFor(cols);
                        if (count > 0)
                        {
                            MaskSelection.SelectLowest(scores, count, mask, buffer);
                        }
                        break;
                    case SparsityPattern.NM nm:
                        for (int g = 0; g < cols; g += nm.M)
                        {
                            MaskSelection.SelectLowestInGroup(scores.AsSpan(g, nm.M), nm.N, mask.AsSpan(g, nm.M));
                        }
                        break;
                }
                Span<float> row = w.AsSpan(r * cols, cols);
                for (int j = 0; j < cols; j++)
                {
                    if (mask[j])
                    {
                        row[j] = 0f;
                    }
                }
            }
        }, cancellationToken);
    }

    /// <summary>Result record, with the reconstruction error when a Hessian is at hand.</summary>
    public static LinearPruneResult Result(float[]? original, ReadOnlySpan<float> weight, int rows, int cols, InputStatistics? stats, CancellationToken cancellationToken)
    {
        double? error = original is not null && stats is { HasHessian: true }
            ? ReconstructionError.Compute(original, weight, rows, cols, stats.Hessian, cancellationToken)
            : null;
        return new LinearPruneResult(SparsityCheck.CountZeros(weight), (long)rows * cols, error);
    }
}
