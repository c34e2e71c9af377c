namespace Copal.Cli.Serving;

/// <summary>
/// What the server's requests came to, counted by the parts that answer them (safe across their threads) and read by
/// /metrics and by <c>copal serve</c>'s last line.
/// </summary>
internal sealed class RequestCounts
{
    private long _aborted;
    private long _generations;
    private long _errors;

    /// <summary>Requests whose client went away before the answer was complete (their generation is cancelled).</summary>
    public long Aborted => Interlocked.Read(ref _aborted);

    /// <summary>Generation requests (completions and chat) whose choices were started, however many each had.</summary>
    public long Generations => Interlocked.Read(ref _generations);

    /// <summary>Requests answered with an error status.</summary>
    public long Errors => Interlocked.Read(ref _errors);

    public void CountAborted() => Interlocked.Increment(ref _aborted);

    public void CountGeneration() => Interlocked.Increment(ref _generations);

    public void CountError() => Interlocked.Increment(ref _errors);
}
