using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// A request's choices are queued together (up to 1,024 of them, prompts × n), and all but --parallel wait. A choice
/// waiting holds its job, not a copy of its prompt: the prompt prepared once (<see cref="InferenceEngine.Prepare"/>)
/// is the engine's own and shared by every choice of it. Each choice copied it before, so one request of 8 prompts of
/// 128k tokens with n 128, a body of a few megabytes, held 512 MB of copies before the first of them ran.
/// </summary>
public sealed class QueuedChoiceMemoryTests
{
    private const int Choices = 16;

    [Fact]
    public async Task A_queued_choice_of_a_prepared_prompt_holds_no_copy_of_it()
    {
        using var backend = new CpuBackend();
        using var stepping = new ManualResetEventSlim();
        using var go = new ManualResetEventSlim();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions
        {
            Parallel = 1,
            BeforeDecodeStep = () =>
            {
                stepping.Set();
                go.Wait();
            },
        });
        // The one slot's request waits before its first decode step, so every choice started stays queued.
        Task<CompletionResult> blocker = engine.CompleteAsync(new CompletionRequest { Prompt = "Once", MaxTokens = 3 });
        stepping.Wait();
        (long shortPrompt, Func<Task> drainShort) = Start(engine, 4);
        (long longPrompt, Func<Task> drainLong) = Start(engine, 400);
        go.Set();
        await blocker;
        await drainShort();
        await drainLong();
        // A copy of 400 ids is 1,600 bytes; what a choice allocates beside it does not depend on the prompt's length.
        Assert.InRange((longPrompt - shortPrompt) / Choices, long.MinValue, 400);
    }

    // Bytes this thread allocates to start Choices streams of one prepared prompt of `tokens` ids (each runs here until
    // its first wait, queued), and how to read them to their ends. One stream is started first, off the count: the
    // first of its kind builds what the engine builds once.
    private static (long Bytes, Func<Task> Drain) Start(InferenceEngine engine, int tokens)
    {
        // Ids past the byte tokens (3 to 258), which a decoder primed with the prompt would take whole as one run.
        CompletionRequest prepared = engine.Prepare(new CompletionRequest { PromptIds = [.. Enumerable.Range(0, tokens).Select(i => 260 + (i * 37 % 250))], MaxTokens = 2 });
        var streams = new IAsyncEnumerator<CompletionChunk>[Choices + 1];
        var firsts = new Task<bool>[Choices + 1];
        long before = 0;
        for (int i = 0; i <= Choices; i++)
        {
            before = i == 1 ? GC.GetAllocatedBytesForCurrentThread() : before;
            streams[i] = engine.StreamAsync(prepared).GetAsyncEnumerator();
            firsts[i] = streams[i].MoveNextAsync().AsTask();
        }
        long bytes = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.All(firsts, f => Assert.False(f.IsCompleted)); // every one queued
        return (bytes, async () =>
        {
            for (int i = 0; i <= Choices; i++)
            {
                while (await firsts[i])
                {
                    firsts[i] = streams[i].MoveNextAsync().AsTask();
                }
                await streams[i].DisposeAsync();
            }
        });
    }
}
