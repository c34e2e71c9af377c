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
    /// itself, the collection that followed raced the thread's end and kept the last body's 480 MB).
    /// </summary>
    public static async Task<T> RunAsync<T>(Func<T> work)
    {
        T result = default!;
        System.Runtime.ExceptionServices.ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = work();
            }
            catch (Exception e)
            {
                failure = System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e);
            }
        })
        {
            IsBackground = true,
            Name = "copal large body",
        };
        thread.Start();
        await Task.Factory.StartNew(thread.Join, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        failure?.Throw();
        return result;
    }
}
