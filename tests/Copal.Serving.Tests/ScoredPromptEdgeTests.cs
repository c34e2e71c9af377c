using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// A scored prompt (echo with log-probabilities) where its scores are easiest to lose or to compute over the wrong
/// tokens: a reply whose first token already ends at a stop text, and a prompt that holds a token past the decodable
/// ones of a padded vocabulary.
/// </summary>
public sealed class ScoredPromptEdgeTests
{
    /// <summary>The prompt's scores come on the first chunk, also when that chunk is the last because its token completed a stop text.</summary>
    [Fact]
    public async Task A_first_token_that_ends_at_a_stop_text_still_carries_the_prompts_scores()
    {
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1 });
        int[] prompt = tokenizer.Encode("Once upon a time");
        (string first, int[] ids) = Reference.Greedy(model, tokenizer, prompt, 1);
        Assert.False(string.IsNullOrWhiteSpace(first), $"the first token's text '{first}'");

        CompletionResult result = await engine.CompleteAsync(new CompletionRequest
        {
            PromptIds = prompt, MaxTokens = 5, TopLogprobs = 1, ScorePrompt = true, Stop = [first.Trim()],
        });
        Assert.Equal(FinishReason.Stop, result.FinishReason);
        Assert.Equal(ids, result.TokenIds);
        Assert.NotNull(result.PromptLogprobs);
        Assert.Equal(prompt, result.PromptLogprobs.TokenIds);
        Assert.Equal(prompt.Length - 1, result.PromptLogprobs.Following.Count);
    }

    /// <summary>
    /// With a padded vocabulary (<see cref="EngineOptions.DecodableTokens"/>), a prompt token the tokenizer has is
    /// scored, with its alternatives, among the decodable tokens, as a generated token is; a prompt id past them (a
    /// client may send any id of the model) among all the model's.
    /// </summary>
    [Fact]
    public async Task A_scored_prompt_scores_its_tokens_among_the_decodable_ones_and_an_id_past_them_among_all()
    {
        const int Decodable = 100;
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        using var engine = new InferenceEngine(model, tokenizer, new EngineOptions { Parallel = 1, DecodableTokens = Decodable });
        int[] prompt = [1, 50, 60, 403, 70, 80];
        CompletionResult result = await engine.CompleteAsync(new CompletionRequest { PromptIds = prompt, MaxTokens = 0, TopLogprobs = 3, ScorePrompt = true });
        PromptLogprobs scored = Assert.IsType<PromptLogprobs>(result.PromptLogprobs);

        int vocab = model.Config.VocabSize;
        float[] logits;
        using (RunState state = model.CreateState(prompt.Length, prompt.Length, allRowLogits: true))
        {
            model.Forward(state, prompt, 0, LogitsMode.All);
            logits = model.ReadLogits(state, prompt.Length);
        }
        for (int i = 0; i + 1 < prompt.Length; i++)
        {
            int next = prompt[i + 1];
            float[] among = next < Decodable ? logits[(i * vocab)..((i * vocab) + Decodable)] : logits[(i * vocab)..((i + 1) * vocab)];
            double max = among.Max();
            double logSum = max + Math.Log(among.Sum(l => Math.Exp(l - max)));
            ChosenLogprobs token = scored.Following[i];
            Assert.Equal(next, token.Chosen.TokenId);
            Assert.Equal(among[next] - logSum, token.Chosen.Logprob, Tolerances.LogitsAbsolute);
            Assert.Equal(Array.IndexOf(among, (float)max), token.Top[0].TokenId);
            if (next < Decodable)
            {
                Assert.All(token.Top, t => Assert.InRange(t.TokenId, 0, Decodable - 1));
            }
        }
    }
}
