using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// Scoring a prompt (echo with log-probabilities, as evaluation harnesses send it) reads every row's logits. The
/// scheduler's buffer for them was a whole prefill chunk's rows × the vocabulary on the first scored request, whatever
/// its length: 64 MB on a 128k vocabulary to score two tokens, kept for the engine's life. It now grows with the
/// prompts scored, up to a chunk.
/// </summary>
public sealed class ScoringMemoryTests
{
    [Fact]
    public async Task Scoring_a_short_prompt_allocates_for_its_rows_not_a_whole_chunk()
    {
        using var backend = new CpuBackend();
        var counts = new List<long>();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend, new EngineOptions
        {
            Parallel = 1,
            BeforeDecodeStep = () => counts.Add(GC.GetAllocatedBytesForCurrentThread()),
        });
        int vocab = engine.Model.Config.VocabSize;
        int[] prompt = [1, 403, 407];
        // Twice without scoring, so the slot and the decoding thread's own first-time work are done.
        for (int i = 0; i < 2; i++)
        {
            await engine.CompleteAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 2 });
        }
        long before = counts[^1];
        CompletionResult scored = await engine.CompleteAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 2, TopLogprobs = 1, ScorePrompt = true });

        Assert.NotNull(scored.PromptLogprobs);
        Assert.Equal(3, counts.Count); // one decode step a request
        long chunkBytes = (long)BatchScheduler.PrefillRows * vocab * sizeof(float);
        // The three rows' logits are 6 KiB on stories260K; a chunk's 256 KiB.
        Assert.InRange(counts[^1] - before, 0, chunkBytes / 4);
    }
}
