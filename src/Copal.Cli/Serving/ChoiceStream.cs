using System.Threading.Channels;
using Copal.Model.Serving;

namespace Copal.Cli.Serving;

/// <summary>
/// The chunks of several generations, run at once, as one stream of (choice index, chunk) in the order they come.
/// Every generation is started before the first chunk is read, so the engine decodes them side by side; each is read
/// by a task of its own, so a slow reader of one does not hold the others. The first failure ends the stream with
/// that failure and cancels the other generations; so does disposing it before the end.
/// </summary>
internal sealed class ChoiceStream : IAsyncEnumerator<(int Index, CompletionChunk Chunk)>
{
    private readonly Channel<(int, CompletionChunk)> _merged = Channel.CreateUnbounded<(int, CompletionChunk)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _cancel;
    private readonly Task[] _readers;
    private int _running;
    private int _failed;

    private ChoiceStream(int count, CancellationToken cancellationToken)
    {
        _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        _readers = new Task[count];
        _running = count;
    }

    /// <summary>
    /// Starts generation i of <paramref name="count"/> with <paramref name="generate"/>(i, token), in order, each
    /// cancelled with <paramref name="cancellationToken"/> or when another fails.
    /// </summary>
    public static ChoiceStream Start(int count, Func<int, CancellationToken, IAsyncEnumerable<CompletionChunk>> generate, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var stream = new ChoiceStream(count, cancellationToken);
        for (int i = 0; i < count; i++)
        {
            // Each runs here until its first wait: an engine generation is queued by then, before the next one starts.
            stream._readers[i] = stream.ReadAsync(i, generate);
        }
        return stream;
    }

    private async Task ReadAsync(int index, Func<int, CancellationToken, IAsyncEnumerable<CompletionChunk>> generate)
    {
        try
        {
            await foreach (CompletionChunk chunk in generate(index, _cancel.Token).ConfigureAwait(false))
            {
                _merged.Writer.TryWrite((index, chunk));
            }
        }
        catch (Exception e)
        {
            // The first failure is the stream's (a client that left or a stopping server cancels them all, and the
            // first of their cancellations says so); the others' cancellations, which it caused, say nothing more.
            if (Interlocked.Exchange(ref _failed, 1) == 0)
            {
                _merged.Writer.TryComplete(e);
            }
            await _cancel.CancelAsync().ConfigureAwait(false);
            return;
        }
        if (Interlocked.Decrement(ref _running) == 0)
        {
            _merged.Writer.TryComplete();
        }
    }

    /// <summary>The chunk read last, with the index of its generation.</summary>
    public (int Index, CompletionChunk Chunk) Current { get; private set; }

    /// <summary>Waits for the next chunk of any generation; false once all are done. Throws the first failure.</summary>
    public async ValueTask<bool> MoveNextAsync()
    {
        while (await _merged.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (_merged.Reader.TryRead(out (int, CompletionChunk) next))
            {
                Current = next;
                return true;
            }
        }
        return false;
    }

    /// <summary>Cancels the generations still running and waits until they have ended.</summary>
    public async ValueTask DisposeAsync()
    {
        await _cancel.CancelAsync().ConfigureAwait(false);
        // Their failures were the stream's to report, and were (or were not wanted, the reader having left).
        await Task.WhenAll(_readers).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _cancel.Dispose();
    }
}
