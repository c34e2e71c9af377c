namespace Copal.Cli.Serving;

/// <summary>
/// How many bytes of request bodies the server parses and handles at once. A body costs up to about 24× its bytes
/// while it is parsed and handled (System.Text.Json's 12 bytes a JSON token in an array that doubles as it fills: a
/// 30 MB body of 7.5 million one-token prompts peaked at 0.7 GB), so without a bound N clients sending bodies at the
/// limit asked N × 0.7 GB of a host whose model may already hold most of it. Past the budget a body waits, first in
/// first out, holding only its own bytes (what its client sent); one larger than the whole budget waits until no other
/// is being handled, then goes alone. The wait ends when the client leaves or the server stops.
/// Once no body is handled after one of <see cref="LargeBodyThread.Bytes"/> or more, <paramref name="afterLarge"/> is
/// called: what such a body's work left is garbage then, and an idle server would otherwise keep it as long as it idles.
/// </summary>
internal sealed class BodyBudget(long bytes, Action? afterLarge = null)
{
    private readonly object _lock = new();
    private readonly LinkedList<Waiter> _waiting = new();
    private long _used;
    private bool _largeGiven;

    /// <summary>The bytes that may be handled at once.</summary>
    public long Bytes { get; } = bytes > 0 ? bytes : throw new ArgumentOutOfRangeException(nameof(bytes), bytes, "a body budget must be positive");

    /// <summary>The bytes of the bodies being handled now.</summary>
    public long Used
    {
        get
        {
            lock (_lock)
            {
                return _used;
            }
        }
    }

    /// <summary>Bodies waiting for the budget now.</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>
    /// Waits until <paramref name="bytes"/> fit beside the bodies being handled (every body before it in line gone
    /// first) and takes them until the lease is disposed.
    /// </summary>
    public async ValueTask<Lease> TakeAsync(long bytes, CancellationToken cancellationToken)
    {
        Waiter waiter;
        lock (_lock)
        {
            if (_waiting.Count == 0 && Fits(bytes))
            {
                _used += bytes;
                return new Lease(this, bytes);
            }
            waiter = new Waiter(bytes);
            waiter.Node = _waiting.AddLast(waiter);
        }
        try
        {
            await waiter.Granted.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Leave(waiter);
            if (waiter.Granted.Task.IsCompletedSuccessfully)
            {
                // Granted as the wait was cancelled: given back, for the bodies behind it.
                Give(bytes);
            }
            throw;
        }
        return new Lease(this, bytes);
    }

    // Alone, any body fits: one past the whole budget goes when nothing else is handled.
    private bool Fits(long bytes) => _used == 0 || _used + bytes <= Bytes;

    private void Leave(Waiter waiter)
    {
        lock (_lock)
        {
            if (waiter.Node?.List is null)
            {
                return;
            }
            _waiting.Remove(waiter.Node);
            waiter.Granted.TrySetCanceled();
            GrantWaiting();
        }
    }

    private void Give(long bytes)
    {
        bool idleAfterLarge;
        lock (_lock)
        {
            _used -= bytes;
            GrantWaiting();
            _largeGiven |= bytes >= LargeBodyThread.Bytes;
            idleAfterLarge = _largeGiven && _used == 0;
            _largeGiven &= !idleAfterLarge;
        }
        if (idleAfterLarge)
        {
            afterLarge?.Invoke();
        }
    }

    // Under the lock: the bodies at the head of the line that now fit, in order.
    private void GrantWaiting()
    {
        while (_waiting.First is { } first && Fits(first.Value.Bytes))
        {
            _waiting.RemoveFirst();
            _used += first.Value.Bytes;
            if (!first.Value.Granted.TrySetResult())
            {
                _used -= first.Value.Bytes;
            }
        }
    }

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;
        public LinkedListNode<Waiter>? Node { get; set; }
        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Bytes taken from the budget; disposing gives them back, once.</summary>
    internal sealed class Lease(BodyBudget budget, long bytes) : IDisposable
    {
        private int _given;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _given, 1) == 0)
            {
                budget.Give(bytes);
            }
        }
    }
}
