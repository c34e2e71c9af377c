namespace Copal.Cli.Serving;

/// <summary>
/// Runs the synchronous work of a large request body (its parse, its checks, its prompts' encoding, a tokenizer
/// endpoint's answer) on a thread of its own, which ends with it. What that work returns to the shared array pools
/// then goes with the thread: the shared pool keeps a returned array in the returning thread's own slot first, and
/// System.Text.Json's document returns every array its rows outgrow (a 30 MB body of 7.5 million prompts: 32 to 256
/// MB, 480 MB in all), as the tokenizer returns its buffers of a long text. On the server's pool threads these
/// stayed, a set per thread that had parsed a body, until the pool's trimming, which needs a full collection and a
/// minute after each array: five such bodies, one after another, left the server 2.6 GB larger for as long as it
/// idled. A thread's slots are dropped when it ends, so the arrays are garbage for the next collection
/// (<see cref="BodyBudget"/> asks for one once the large bodies are done).
/// </summary>
internal static class LargeBodyThread
{
    /// <summary>
    /// From this many bytes a body's work runs on its own thread: the arrays its parse returns to the pool are then
    /// of a megabyte or more, where a thread's start (tens of microseconds) is nothing beside the parse.
    /// </summary>
    public const long Bytes = 1024 * 1024;

    /// <summary>
    /// <paramref name="work"/>'s result, computed on a new thread, or its exception; the task completes once that
    /// thread has ended, so a collection after it finds the thread's pool slots gone (completed from the thread
    /// itself, the collection that followed raced the thread's end and kept the last body's 480 MB). Not an async
    /// method: its state machine would hold <paramref name="work"/>, and through it the body, until the task's
    /// continuations had run, on another thread than the one that then looks for the body's memory.
    /// </summary>
    public static Task<T> RunAsync<T>(Func<T> work)
    {
        var run = new Run<T>(work);
        var thread = new Thread(run.Execute)
        {
            IsBackground = true,
            Name = "copal large body",
        };
        thread.Start();
        return Task.Factory.StartNew(() =>
        {
            thread.Join();
            return run.Take();
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>
    /// One work's delegate and outcome, each let go of once used: an ended thread's object keeps its start delegate
    /// until the runtime cleans the thread up, at a collection of its own choosing, and through it the body the work
    /// read (a busy machine saw a request's 1.2 MB body outlive its read in one run of four).
    /// </summary>
    private sealed class Run<T>(Func<T> work)
    {
        private Func<T>? _work = work;
        private T _result = default!;
        private System.Runtime.ExceptionServices.ExceptionDispatchInfo? _failure;

        public void Execute()
        {
            Func<T> work = _work!;
            _work = null;
            try
            {
                _result = work();
            }
            catch (Exception e)
            {
                _failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            }
        }

        public T Take()
        {
            T result = _result;
            _result = default!;
            System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = _failure;
            _failure = null;
            failure?.Throw();
            return result;
        }
    }
}
