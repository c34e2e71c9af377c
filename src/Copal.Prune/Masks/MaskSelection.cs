using System.Buffers;
using System.Diagnostics;

namespace Copal.Prune;

/// <summary>
/// Chooses which entries to prune from a score matrix: always exactly the requested count with the lowest
/// scores, ties broken by the lower index first (what a stable sort gives). Masks are row-major
/// [rows, cols] like the scores; selected entries are set to true, others are left untouched.
/// Scores must not be NaN.
/// </summary>
internal static class MaskSelection
{
    /// <summary>In every row, marks the <paramref name="countPerRow"/> lowest scores.</summary>
    public static void PruneLowestPerRow(ReadOnlySpan<double> scores, int rows, int cols, int countPerRow, Span<bool> pruneMask)
    {
        CheckShape(scores.Length, pruneMask.Length, rows, cols);
        if (countPerRow < 0 || countPerRow > cols)
        {
            throw new ArgumentOutOfRangeException(nameof(countPerRow), countPerRow, $"expected 0..{cols} (the row length)");
        }
        if (countPerRow == 0)
        {
            return;
        }
        double[] buffer = RentScratch(cols);
        try
        {
            for (int r = 0; r < rows; r++)
            {
                SelectLowest(scores.Slice(r * cols, cols), countPerRow, pruneMask.Slice(r * cols, cols), buffer);
            }
        }
        finally
        {
            ReturnScratch(buffer);
        }
    }

    /// <summary>In every row and every group of <paramref name="m"/> consecutive columns, marks the <paramref name="n"/> lowest scores.</summary>
    /// <exception cref="PruningShapeException">cols is not a multiple of m.</exception>
    public static void PruneLowestPerGroup(ReadOnlySpan<double> scores, int rows, int cols, int n, int m, Span<bool> pruneMask)
    {
        CheckShape(scores.Length, pruneMask.Length, rows, cols);
        new SparsityPattern.NM(n, m).EnsureFits(cols, "the score matrix");
        for (int r = 0; r < rows; r++)
        {
            for (int g = 0; g < cols; g += m)
            {
                int start = r * cols + g;
                SelectLowestInGroup(scores.Slice(start, m), n, pruneMask.Slice(start, m));
            }
        }
    }

    /// <summary>Over all entries, marks the <paramref name="count"/> lowest scores.</summary>
    public static void PruneLowestGlobal(ReadOnlySpan<double> scores, long count, Span<bool> pruneMask)
    {
        RequireOneEntryPerScore(scores.Length, pruneMask.Length);
        if (count < 0 || count > scores.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, $"expected 0..{scores.Length} (the number of scores)");
        }
        if (count == 0)
        {
            return;
        }
        double[] buffer = RentScratch(scores.Length);
        try
        {
            SelectLowest(scores, (int)count, pruneMask, buffer);
        }
        finally
        {
            ReturnScratch(buffer);
        }
    }

    /// <summary>
    /// Over all entries, marks every score at or below the one at sorted index <paramref name="rank"/> (0-based):
    /// SparseGPT's reference rule for an unstructured block, <c>tmp &lt;= sort(tmp)[⌊numel·s⌋]</c>. That is
    /// rank + 1 entries where that score is unique, and every entry tied with it besides.
    /// </summary>
    public static void PruneAtOrBelowRank(ReadOnlySpan<double> scores, long rank, Span<bool> pruneMask)
    {
        RequireOneEntryPerScore(scores.Length, pruneMask.Length);
        if (rank < 0 || rank >= scores.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(rank), rank, $"expected 0..{scores.Length - 1} (an index into the sorted scores)");
        }
        double[] buffer = RentScratch(scores.Length);
        try
        {
            double threshold = ValueAtRank(scores, (int)rank, buffer);
            for (int i = 0; i < scores.Length; i++)
            {
                pruneMask[i] |= scores[i] <= threshold;
            }
        }
        finally
        {
            ReturnScratch(buffer);
        }
    }

    /// <summary>
    /// Scratch above this many doubles (8 MiB) is not pooled: the shared pool keeps what is returned to it, per thread,
    /// so a whole matrix's copy (a 7B MLP linear's is 360 MB) would stay in memory after its linear was pruned, one
    /// for each thread that pruned one.
    /// </summary>
    private const int PooledScratchLimit = 1 << 20;

    private static double[] RentScratch(int length) =>
        length <= PooledScratchLimit ? ArrayPool<double>.Shared.Rent(length) : GC.AllocateUninitializedArray<double>(length);

    private static void ReturnScratch(double[] buffer)
    {
        if (buffer.Length <= PooledScratchLimit)
        {
            ArrayPool<double>.Shared.Return(buffer);
        }
    }

    /// <summary>Marks the <paramref name="n"/> lowest of a small group, lower index first on ties (O(n·m), no allocation).</summary>
    internal static void SelectLowestInGroup(ReadOnlySpan<double> group, int n, Span<bool> mask)
    {
        Debug.Assert(n <= group.Length);
        if (group.Length > 64)
        {
            SelectLowest(group, n, mask, new double[group.Length]);
            return;
        }
        ulong taken = 0;
        for (int pick = 0; pick < n; pick++)
        {
            int best = -1;
            double bestScore = 0;
            for (int k = 0; k < group.Length; k++)
            {
                // Strict '<' keeps the lowest index among equal scores.
                if ((taken & (1UL << k)) == 0 && (best < 0 || group[k] < bestScore))
                {
                    best = k;
                    bestScore = group[k];
                }
            }
            taken |= 1UL << best;
            mask[best] = true;
        }
    }

    /// <summary>
    /// Marks exactly <paramref name="count"/> lowest: find the count-th smallest value v by selection (O(len)),
    /// mark everything below v, then the first entries equal to v in index order until the count is reached.
    /// </summary>
    internal static void SelectLowest(ReadOnlySpan<double> scores, int count, Span<bool> mask, double[] buffer)
    {
        Debug.Assert(count > 0 && count <= scores.Length && buffer.Length >= scores.Length);
        double threshold = ValueAtRank(scores, count - 1, buffer);
        int below = 0;
        for (int i = 0; i < scores.Length; i++)
        {
            if (scores[i] < threshold)
            {
                mask[i] = true;
                below++;
            }
        }
        int equalNeeded = count - below;
        for (int i = 0; i < scores.Length && equalNeeded > 0; i++)
        {
            if (scores[i] == threshold)
            {
                mask[i] = true;
                equalNeeded--;
            }
        }
        Debug.Assert(equalNeeded == 0);
    }

    private static void CheckShape(int scoreLength, int maskLength, int rows, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (scoreLength != (long)rows * cols)
        {
            throw new PruningShapeException($"scores have {scoreLength} entries, expected {rows}×{cols} = {(long)rows * cols}", "scores");
        }
        RequireOneEntryPerScore(scoreLength, maskLength);
    }

    /// <summary>The score at sorted index <paramref name="rank"/>, selected in O(len) on a copy in <paramref name="buffer"/>.</summary>
    private static double ValueAtRank(ReadOnlySpan<double> scores, int rank, double[] buffer)
    {
        Span<double> work = buffer.AsSpan(0, scores.Length);
        scores.CopyTo(work);
        return Selection.KthSmallest(work, rank);
    }

    private static void RequireOneEntryPerScore(int scoreLength, int maskLength)
    {
        if (maskLength != scoreLength)
        {
            throw new PruningShapeException($"mask has {maskLength} entries, expected {scoreLength} (one per score)", "pruneMask");
        }
    }
}
