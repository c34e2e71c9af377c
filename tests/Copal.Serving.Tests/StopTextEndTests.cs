using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// A reply ended by a stop text is heard after the scheduler has ended its sequence, as one ended by an end-of-sequence
/// token or max_tokens is: its slot given back and the request counted completed. The reader found the stop text and
/// answered at once, while the scheduler ended the sequence only after the round's other work, here another request's
/// prompt admitted with it: meanwhile the statistics (and /metrics) showed the answered request still running.
/// </summary>
public sealed class StopTextEndTests
{
    [Fact]
    public async Task A_reply_ended_by_a_stop_text_is_heard_after_its_request_is_counted_completed()
    {
        using var backend = new CpuBackend();
        const string Prompt = "Once upon a time";
        string first;
        using (InferenceEngine plain = InferenceEngine.Load(TestData.Stories260K, backend))
        {
            first = (await plain.CompleteAsync(new CompletionRequest { Prompt = Prompt, MaxTokens = 1 })).Text;
        }
        Assert.False(string.IsNullOrWhiteSpace(first));

        // Both requests are admitted in one round, the stopped one first: its first token holds its stop text, and the
        // other's long prompt runs after it in the same round.
        InferenceEngine? engine = null;
        var options = new EngineOptions
        {
            Parallel = 2,
            PrefixCache = false,
            // No time limit here or below: a minute's let the long prompt in first, or failed the test, when the task
            // that sends the stopped request started that late (a loaded machine's thread pool). A hang is the blame
            // collector's to catch (test.runsettings).
            BeforeAdmission = () => SpinWait.SpinUntil(() => Volatile.Read(ref engine)?.Statistics.Started >= 2),
        };
        using InferenceEngine loaded = InferenceEngine.Load(TestData.Stories260K, backend, options);
        Volatile.Write(ref engine, loaded);
        var stopped = new CompletionRequest { Prompt = Prompt, MaxTokens = 50, Stop = [first.Trim()] };
        var longPrompt = new CompletionRequest { PromptIds = [.. Enumerable.Range(0, 480).Select(i => 1 + (i * 37 % 500))], MaxTokens = 1 };

        long completedWhenHeard = -1;
        Task<long> heard = Task.Run(async () =>
        {
            await foreach (CompletionChunk chunk in loaded.StreamAsync(stopped))
            {
                if (chunk.FinishReason is FinishReason.Stop)
                {
                    completedWhenHeard = loaded.Statistics.Completed;
                }
            }
            return completedWhenHeard;
        });
        SpinWait.SpinUntil(() => loaded.Statistics.Started >= 1); // the stopped request first
        CompletionResult other = await loaded.CompleteAsync(longPrompt);
        Assert.Equal(FinishReason.Length, other.FinishReason);
        Assert.True(await heard >= 1, $"the stop text's reply was heard with {completedWhenHeard} requests counted completed");
    }
}
