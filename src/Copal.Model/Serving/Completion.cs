namespace Copal.Model.Serving;

/// <summary>
/// A plain completion: a prompt (text, or token ids) and how to continue it. Sampling as OpenAI names it: temperature
/// 0 is greedy; with temperature &gt; 0 top_p, top_k, min_p and the seed apply; the penalties and logit bias apply to both. The default is greedy decoding, so the same
/// request gives the same text; with a temperature, only a request that gives its <see cref="Seed"/> does.
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

    /// <summary>
    /// Sampling temperature, finite and ≥ 0 (OpenAI's temperature). 0 (default) is greedy: the most likely token, with
    /// <see cref="TopP"/>, <see cref="TopK"/> and <see cref="Seed"/> ignored.
    /// </summary>
    public float Temperature { get; init; }

    /// <summary>Nucleus sampling: draw from the smallest set of tokens whose probability reaches this, in (0, 1]; 1 (default) keeps all. Applies when <see cref="Temperature"/> &gt; 0.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Sample from the k most likely tokens only; 0 keeps all. Applies when <see cref="Temperature"/> &gt; 0, as <see cref="TopP"/> does.</summary>
    public int TopK { get; init; }

    /// <summary>
    /// Sample only from the tokens at least this many times as likely as the likeliest (vLLM's and HF's min_p), in
    /// [0, 1]; 0 (default) keeps all. Applies when <see cref="Temperature"/> &gt; 0, after <see cref="TopK"/> and <see cref="TopP"/>.
    /// </summary>
    public float MinP { get; init; }

    /// <summary>HF's penalty on tokens already in the prompt or the reply (a positive logit divided by it, a negative one multiplied); 1 is off. Applies to greedy decoding too.</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>
    /// OpenAI's presence_penalty: subtracted from the logit of each token the reply already holds (the prompt does not
    /// count, as in OpenAI's and vLLM's); 0 (default) is off. Finite; OpenAI's range is −2 to 2. Applies to greedy decoding too.
    /// </summary>
    public float PresencePenalty { get; init; }

    /// <summary>
    /// OpenAI's frequency_penalty: subtracted from a token's logit once for each time the reply already holds it; 0
    /// (default) is off. Finite; OpenAI's range is −2 to 2. Applies to greedy decoding too.
    /// </summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>
    /// OpenAI's logit_bias: added to the logits of the token ids named, greedy or sampled (−100 bans a token, 100 all
    /// but forces it). Ids must be ones the model can choose (below the tokenizer's size), values finite. Null or
    /// empty (default): none.
    /// </summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>
    /// Seed of this request's own sampler: with <see cref="Temperature"/> &gt; 0, the same seed draws the same way from
    /// the same logits. Null (default) draws a seed for the request, as OpenAI, vLLM and llama.cpp do without one, so
    /// asking again gives another text.
    /// </summary>
    public ulong? Seed { get; init; }

    /// <summary>
    /// Decode the generated text as the prompt's continuation (default): what a full decode of prompt and reply shows
    /// after the prompt, a SentencePiece word's leading space included, as OpenAI's and vLLM's completions return it.
    /// False decodes the reply on its own, as a chat message is shown.
    /// </summary>
    public bool ContinuesPrompt { get; init; } = true;

    /// <summary>Text at which generation stops; the stop text itself is not returned (OpenAI's stop).</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>
    /// Report each generated token's log-probability and this many of the most likely tokens at its step beside it
    /// (0 to <see cref="MaxTopLogprobs"/>, as OpenAI's top_logprobs); null (default): no log-probabilities.
    /// </summary>
    public int? TopLogprobs { get; init; }

    /// <summary>
    /// Also report the prompt's log-probabilities: each prompt token after the first, given those before it, with
    /// <see cref="TopLogprobs"/> alternatives (which must be set), in the first chunk's <see cref="CompletionChunk.PromptLogprobs"/>.
    /// What OpenAI's echo with logprobs gives, and what evaluation harnesses score a text with; with
    /// <see cref="MaxTokens"/> 0 the prompt is run and nothing generated.
    /// </summary>
    public bool ScorePrompt { get; init; }

    /// <summary>
    /// What the reply must be: <see cref="ResponseFormat.Text"/> (default), <see cref="ResponseFormat.JsonObject"/>,
    /// a JSON object by constrained decoding (OpenAI's JSON mode), or <see cref="ResponseFormat.JsonSchema"/>, a JSON
    /// object valid under <see cref="JsonSchema"/> (OpenAI's structured outputs). The prompt should still ask for JSON,
    /// as OpenAI advises: the mask keeps the reply valid, not sensible.
    /// </summary>
    public ResponseFormat ResponseFormat { get; init; }

    /// <summary>
    /// The JSON schema the reply must be valid under, with <see cref="ResponseFormat.JsonSchema"/> (and only then).
    /// The subset taken, and what is refused (a <see cref="CompletionRequestException"/> naming response_format, the
    /// keyword and its place in the schema), is in docs/serving.md, "Structured outputs".
    /// </summary>
    public System.Text.Json.JsonElement? JsonSchema { get; init; }

    /// <summary>The most alternatives <see cref="TopLogprobs"/> may ask for, as OpenAI's API allows.</summary>
    public const int MaxTopLogprobs = 20;
}

/// <summary>Why a completion ended, in OpenAI's words: <c>stop</c> (end of sequence or a stop text) or <c>length</c> (max_tokens or the context).</summary>
public enum FinishReason
{
    /// <summary>The model chose an end-of-sequence token, or the text reached one of <see cref="CompletionRequest.Stop"/>.</summary>
    Stop,
    /// <summary><see cref="CompletionRequest.MaxTokens"/> tokens were generated, or the sequence filled the context.</summary>
    Length,
}

/// <summary>Token counts of one completion, as OpenAI's usage object.</summary>
/// <param name="PromptTokens">Tokens of the prompt, after encoding (BOS included when added).</param>
/// <param name="CompletionTokens">Tokens generated, a token that completed a stop text included; an end-of-sequence token is not.</param>
public sealed record CompletionUsage(int PromptTokens, int CompletionTokens)
{
    /// <summary><see cref="PromptTokens"/> + <see cref="CompletionTokens"/>.</summary>
    public int TotalTokens => PromptTokens + CompletionTokens;

    /// <summary>
    /// Prompt tokens the engine did not run: their KV cache kept from an earlier request that began the same way
    /// (<see cref="EngineOptions.PrefixCache"/>), or the whole prompt where the request copied the prefill of the same
    /// prompt admitted with it (<see cref="EngineStatistics.SharedPromptTokens"/>). OpenAI's
    /// <c>prompt_tokens_details.cached_tokens</c>.
    /// </summary>
    public int CachedPromptTokens { get; init; }
}

/// <summary>
/// A piece of a streamed completion: the text the new token(s) completed (may be empty while a character or a
/// possible stop text is incomplete). The last chunk carries <see cref="FinishReason"/> and <see cref="Usage"/>.
/// </summary>
/// <param name="Text">The text this chunk adds; a stop text and anything after it are left out.</param>
/// <param name="TokenIds">The token this chunk's text came from; empty in a last chunk that only flushes held-back text.</param>
public sealed record CompletionChunk(string Text, IReadOnlyList<int> TokenIds)
{
    /// <summary>Why the completion ended: set on the last chunk only, null before it.</summary>
    public FinishReason? FinishReason { get; init; }
    /// <summary>The completion's token counts: set on the last chunk only, null before it.</summary>
    public CompletionUsage? Usage { get; init; }
    /// <summary>
    /// The log-probability of this chunk's token and of the most likely tokens at its step, when the request asked for
    /// them (<see cref="CompletionRequest.TopLogprobs"/>); null otherwise. The last chunk of a reply the model ended
    /// carries its end-of-sequence token's (its id in <see cref="ChosenLogprobs.Chosen"/>: it adds no text and is not
    /// counted in the usage), as OpenAI's and vLLM's log-probabilities include it.
    /// </summary>
    public ChosenLogprobs? Logprobs { get; init; }
    /// <summary>
    /// Where this chunk's token's text starts in the reply's text, in characters: the text of the chunks before and the
    /// text held back after it (a possible stop text; a character split between tokens starts where its first token
    /// does). It is where the token stands in the text the model wrote, so tokens past a stop text that ended the reply
    /// are placed beyond its end. In the last chunk, with no token or the end-of-sequence token, the end of the text.
    /// </summary>
    public int TextOffset { get; init; }
    /// <summary>The prompt's log-probabilities, when the request asked for them (<see cref="CompletionRequest.ScorePrompt"/>): on the first chunk only.</summary>
    public PromptLogprobs? PromptLogprobs { get; init; }
    /// <summary>
    /// When the engine chose this chunk's token, as a <see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> value
    /// (<see cref="System.Diagnostics.Stopwatch.GetElapsedTime(long)"/> gives the time since); 0 in a chunk without a
    /// token. A reader that wakes after several steps sees their tokens at once: this is when each really came.
    /// </summary>
    public long ChosenAt { get; init; }
}

/// <summary>A token and its log-probability under the model (the natural log, ≤ 0).</summary>
public readonly record struct TokenLogprob(int TokenId, float Logprob);

/// <summary>
/// A chosen token's log-probability and the <see cref="CompletionRequest.TopLogprobs"/> most likely tokens at its step,
/// the most likely first (ties by lower id). They are the model's own: the log-softmax of its logits, before the
/// repetition penalty, temperature, top-k and top-p, as vLLM reports by default. A sampled token may be one the
/// model gave little, and then is not among them.
/// </summary>
public sealed record ChosenLogprobs(TokenLogprob Chosen, IReadOnlyList<TokenLogprob> Top);

/// <summary>
/// A prompt's tokens and their log-probabilities: <see cref="Following"/>[i] is token i + 1's, given the tokens before
/// it (the first token has none: nothing comes before it).
/// </summary>
public sealed record PromptLogprobs(IReadOnlyList<int> TokenIds, IReadOnlyList<ChosenLogprobs> Following);

/// <summary>A whole completion: its text, the generated ids, why it ended and the token counts.</summary>
/// <param name="Text">The generated text, without the prompt and without a stop text.</param>
/// <param name="TokenIds">The generated token ids, as <see cref="CompletionUsage.CompletionTokens"/> counts them.</param>
/// <param name="FinishReason">Why it ended.</param>
/// <param name="Usage">Prompt and completion token counts.</param>
public sealed record CompletionResult(string Text, IReadOnlyList<int> TokenIds, FinishReason FinishReason, CompletionUsage Usage)
{
    /// <summary>Each generated token's log-probabilities (an ending end-of-sequence token's last), when asked for (<see cref="CompletionRequest.TopLogprobs"/>).</summary>
    public IReadOnlyList<ChosenLogprobs>? Logprobs { get; init; }
    /// <summary>The prompt's log-probabilities, when asked for (<see cref="CompletionRequest.ScorePrompt"/>).</summary>
    public PromptLogprobs? PromptLogprobs { get; init; }
}

/// <summary>A request the engine cannot run: names the field (OpenAI's parameter name) with the expected and actual value.</summary>
public sealed class CompletionRequestException : ArgumentException
{
    private readonly string _message;

    /// <summary>
    /// A refusal of request field <paramref name="parameter"/> (OpenAI's name, e.g. <c>max_tokens</c>), which is also the
    /// <see cref="ArgumentException.ParamName"/>: .NET code that logs the ParamName of an ArgumentException learns the field.
    /// </summary>
    public CompletionRequestException(string parameter, string message) : base(message, parameter)
    {
        Parameter = parameter;
        _message = message;
    }

    /// <summary>The request field at fault, e.g. <c>max_tokens</c> (the same as <see cref="ArgumentException.ParamName"/>).</summary>
    public string Parameter { get; }

    /// <summary>
    /// The sentence alone, without the " (Parameter '…')" ArgumentException appends: it already names the field, and
    /// the server sends it as the error's message.
    /// </summary>
    public override string Message => _message;

    /// <summary>True when the prompt does not fit the context (OpenAI's <c>context_length_exceeded</c>).</summary>
    public bool ContextLengthExceeded { get; init; }

    /// <summary>
    /// True when the request asks for something copal does not implement, such as a JSON schema keyword outside the
    /// subset structured outputs hold a reply to (OpenAI's <c>unsupported_parameter</c>), rather than a malformed value.
    /// </summary>
    public bool Unsupported { get; init; }
}
