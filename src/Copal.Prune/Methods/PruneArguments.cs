namespace Copal.Prune;

/// <summary>Entry checks shared by the methods, so each names the argument and both values the same way.</summary>
internal static class PruneArguments
{
    public static void Check(string method, int weightLength, int rows, int cols, InputStatistics? stats, SparsityPattern pattern, bool needsStats, bool needsHessian)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (rows <= 0 || cols <= 0)
        {
            throw new PruningShapeException(FormattableString.Invariant($"{method}: weight shape [{rows}, {cols}] must be positive"), nameof(rows));
        }
        if (weightLength != (long)rows * cols)
        {
            throw new PruningShapeException($"{method}: weight has {weightLength} elements, expected [{rows}, {cols}] = {(long)rows * cols}", "weight");
        }
        if (stats is null)
        {
            if (needsStats)
            {
                throw new ArgumentNullException(nameof(stats), $"{method} needs input statistics of the layer (calibration data)");
            }
        }
        else
        {
            if (stats.Columns != cols)
            {
                throw new PruningShapeException($"{method}: input statistics have {stats.Columns} columns, expected {cols} (the weight's input dimension)", nameof(stats));
            }
            if (needsHessian && !stats.HasHessian)
            {
                throw new PruningShapeException($"{method}: input statistics have no Hessian; collect them with collectHessian: true", nameof(stats));
            }
            if (needsStats && stats.Sequences == 0)
            {
                throw new PruningShapeException($"{method}: input statistics are empty (0 sequences); run calibration first", nameof(stats));
            }
        }
        if (pattern is SparsityPattern.NM nm)
        {
            nm.EnsureFits(cols, "the weight");
        }
    }

    /// <summary>Throws if a weight is NaN or infinite: scores would be meaningless and selection undefined.</summary>
    public static void CheckFinite(string method, ReadOnlySpan<float> weight, int cols)
    {
        for (int i = 0; i < weight.Length; i++)
        {
            if (!float.IsFinite(weight[i]))
            {
                throw new ArgumentException(FormattableString.Invariant($"{method}: weight[{i / cols}, {i % cols}] is {weight[i]}, expected a finite value"), nameof(weight));
            }
        }
    }

    public static long CountZeros(ReadOnlySpan<float> weight) => SparsityCheck.CountZeros(weight);
}
