namespace Copal.Model.Serving;

/// <summary>
/// A plain completion: a prompt (text, or token ids) and how to continue it. Sampling as OpenAI names it: temperature
/// 0 is greedy; with temperature &gt; 0 top_p, top_k and the seed apply. The library's defaults are greedy decoding and seed 0,
/// so the same request gives the same text.
/// </summary>
public sealed record CompletionRequest
{
    /// <summary>The prompt text, encoded with the model's tokenizer (BOS added as the tokenizer's post-processor says when <see cref="AddSpecialTokens"/>).</summary>
    public string? Prompt { get; init; }

    /// <summary>The prompt as token ids, instead of <see cref="Prompt"/>.</summary>
    public IReadOnlyList<int>? PromptIds { get; init; }

    /// <summary>Run the tokenizer's post-processor on <see cref="Prompt"/> (e.g. prepend &lt;s&gt;).</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>Tokens to generate at most (OpenAI's max_tokens).</summary>
    public int MaxTokens { get; init; } = 256;

    public float Temperature { get; init; }

    public float TopP { get; init; } = 1f;

    /// <summary>Sample from the k most likely tokens only; 0 keeps all. Applies when <see cref="Temperature"/> &gt; 0, as <see cref="TopP"/> does.</summary>
    public int TopK { get; init; }

    /// <summary>HF's penalty on tokens already in the prompt or the reply (a positive logit divided by it, a negative one multiplied); 1 is off. Applies to greedy decoding too.</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    public ulong Seed { get; init; }

    /// <summary>Text at which generation stops; the stop text itself is not returned (OpenAI's stop).</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
}

/// <summary>Why a completion ended, in OpenAI's words: <c>stop</c> (end of sequence or a stop text) or <c>length</c> (max_tokens or the context).</summary>
public enum FinishReason
{
    Stop,
    Length,
}

/// <summary>Token counts of one completion, as OpenAI's usage object.</summary>
public sealed record CompletionUsage(int PromptTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>
/// A piece of a streamed completion: the text the new token(s) completed (may be empty while a character or a
/// possible stop text is incomplete). The last chunk carries <see cref="FinishReason"/> and <see cref="Usage"/>.
/// </summary>
public sealed record CompletionChunk(string Text, IReadOnlyList<int> TokenIds)
{
    public FinishReason? FinishReason { get; init; }
    public CompletionUsage? Usage { get; init; }
}

/// <summary>A whole completion: its text, the generated ids, why it ended and the token counts.</summary>
public sealed record CompletionResult(string Text, IReadOnlyList<int> TokenIds, FinishReason FinishReason, CompletionUsage Usage);

/// <summary>A request the engine cannot run: names the field (OpenAI's parameter name) with the expected and actual value.</summary>
public sealed class CompletionRequestException : ArgumentException
{
    public CompletionRequestException(string parameter, string message) : base(message)
    {
        Parameter = parameter;
    }

    /// <summary>The request field at fault, e.g. <c>max_tokens</c>.</summary>
    public string Parameter { get; }

    /// <summary>True when the prompt does not fit the context (OpenAI's <c>context_length_exceeded</c>).</summary>
    public bool ContextLengthExceeded { get; init; }
}
