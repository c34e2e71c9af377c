namespace Copal.Prune;

/// <summary>
/// Splits rows into contiguous ranges, one per worker, and runs a range body on each: the bodies are
/// plain single-threaded loops, so every kernel can be tested (and debugged) on one range.
/// </summary>
internal static class RowPartition
{
    /// <summary>Runs <paramref name="body"/>(start, end) over [0, rows) in at most ProcessorCount ranges of ≥ minRows.</summary>
    public static void For(int rows, int minRows, Action<int, int> body, CancellationToken cancellationToken)
    {
        int workers = Math.Max(1, Math.Min(Environment.ProcessorCount, rows / Math.Max(1, minRows)));
        if (workers == 1)
        {
            cancellationToken.ThrowIfCancellationRequested();
            body(0, rows);
            return;
        }
        var options = new ParallelOptions { CancellationToken = cancellationToken, MaxDegreeOfParallelism = workers };
        Parallel.For(0, workers, options, w =>
        {
            int start = (int)((long)rows * w / workers);
            int end = (int)((long)rows * (w + 1) / workers);
            body(start, end);
        });
    }
}
