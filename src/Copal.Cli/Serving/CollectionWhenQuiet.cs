namespace Copal.Cli.Serving;

/// <summary>
/// Runs a collection once a quiet time has passed since it was last asked for: each ask starts the time again. Large
/// bodies one after another (a client streaming uploads) then pay no blocking collection between them, where one
/// after each body took 91-99 ms of every second from the other threads, decoding among them; the server's ordinary
/// collections meanwhile bound what the stream holds. The collection comes when the burst is over.
/// </summary>
internal sealed class CollectionWhenQuiet : IDisposable
{
    private readonly TimeSpan _quiet;
    private readonly ITimer _timer;

    public CollectionWhenQuiet(TimeSpan quiet, TimeProvider time, Action collect)
    {
        _quiet = quiet;
        _timer = time.CreateTimer(static state => ((Action)state!)(), collect, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Asks for the collection, after the quiet time from now (one already waiting waits again).</summary>
    public void Ask() => _timer.Change(_quiet, Timeout.InfiniteTimeSpan);

    public void Dispose() => _timer.Dispose();
}
