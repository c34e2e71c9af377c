using Copal.Model.Chat;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.Serving;

namespace Copal.Cli.Serving;

/// <summary>
/// The choices a request asks for: n for each prompt, in OpenAI's order (choice j of prompt i is choice i × n + j),
/// each an engine request of its own that samples on its own, and the usage they add up to.
/// </summary>
internal static class OpenAiChoices
{
    /// <summary>The golden ratio's 64-bit step, SplitMix64's increment: seeds one step apart differ in about half their bits once mixed.</summary>
    private const ulong GoldenGamma = 0x9E3779B97F4A7C15UL;

    /// <summary>
    /// Every choice of <paramref name="request"/>. Every prompt is checked and encoded (<see cref="InferenceEngine.Prepare"/>)
    /// before any choice runs, so a bad prompt refuses the whole request before anything is decoded; with several
    /// prompts its error says which (prompt[i], from 0). <paramref name="cancellationToken"/> (the client gone) stops
    /// the encoding of a long text within a word.
    /// </summary>
    public static OpenAiChoice[] Of(OpenAiRequest request, InferenceEngine engine, bool chat, bool splitReasoning, CancellationToken cancellationToken)
    {
        IReadOnlyList<CompletionRequest> prompts = request.Prompts;
        var encoded = new CompletionRequest[prompts.Count];
        for (int i = 0; i < prompts.Count; i++)
        {
            try
            {
                encoded[i] = engine.Prepare(prompts[i], cancellationToken);
            }
            catch (CompletionRequestException e) when (prompts.Count > 1 && e.Parameter == "prompt")
            {
                throw new CompletionRequestException("prompt", $"prompt[{i}]: {e.Message}") { ContextLengthExceeded = e.ContextLengthExceeded };
            }
            catch (CompletionRequestException e) when (e.Parameter == "response_format" && request.Tools is { Forced: true } tools)
            {
                // The schema is the forced function's parameters (or the call's shape), not a response_format the client gave.
                throw new CompletionRequestException("tools", $"tool_choice forces a call, and {tools.Unforcible(e.Message)}") { Unsupported = e.Unsupported };
            }
        }
        int n = request.N;
        var choices = new OpenAiChoice[prompts.Count * n];
        for (int i = 0; i < prompts.Count; i++)
        {
            CompletionRequest prompt = prompts[i];
            string? echo = request.Echo ? prompt.Prompt ?? engine.Tokenizer.Decode([.. prompt.PromptIds!]) : null;
            for (int j = 0; j < n; j++)
            {
                choices[(i * n) + j] = new OpenAiChoice((i * n) + j, countsPrompt: j == 0, encoded[i] with { Seed = Seed(prompt.Seed, j) }, chat, echo,
                    chat && splitReasoning ? ThinkTagSplitter.ForReplyTo(prompt) : null,
                    prompt.TopLogprobs is null ? null : new OpenAiLogprobs(engine.Tokenizer, chat), request.Tools);
            }
        }
        return choices;
    }

    /// <summary>
    /// The seed of choice <paramref name="choice"/> of a prompt: the request's own for choice 0, which is then what the
    /// same request with n 1 gives; for choice j &gt; 0, SplitMix64's j-th output from the request's seed (seed + j ×
    /// 0x9E3779B97F4A7C15, mixed), so each choice draws its own way and the same seed gives the same choices again.
    /// Without a seed each choice draws its own (null: the engine draws one per request).
    /// </summary>
    public static ulong? Seed(ulong? seed, int choice)
    {
        if (seed is not ulong s || choice == 0)
        {
            return seed;
        }
        ulong z = unchecked(s + ((ulong)choice * GoldenGamma));
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return z ^ (z >> 31);
    }

    /// <summary>
    /// The answer's usage once every choice is done: each prompt's tokens once (as vLLM counts them, however many
    /// choices it has), the tokens generated over all choices.
    /// </summary>
    public static CompletionUsage Usage(IEnumerable<OpenAiChoice> choices)
    {
        int prompt = 0, completion = 0, cached = 0;
        foreach (OpenAiChoice c in choices)
        {
            CompletionUsage usage = c.Last!.Usage!;
            prompt += c.CountsPrompt ? usage.PromptTokens : 0;
            cached += c.CountsPrompt ? usage.CachedPromptTokens : 0;
            completion += usage.CompletionTokens;
        }
        return new CompletionUsage(prompt, completion) { CachedPromptTokens = cached };
    }
}
