namespace Copal.Model.Serving;

/// <summary>What a reply must be (OpenAI's response_format).</summary>
public enum ResponseFormat
{
    /// <summary>Any text (default).</summary>
    Text,

    /// <summary>
    /// OpenAI's JSON mode (<c>{"type": "json_object"}</c>): the reply is a JSON object, by constrained decoding. Each
    /// token is chosen only among those that keep the reply a prefix of a JSON object (RFC 8259, strings of valid
    /// UTF-8, at most 64 levels of nesting, runs of whitespace capped), and the reply ends as the object closes
    /// (<see cref="FinishReason.Stop"/>). A reply cut by max_tokens or the context is a prefix of one
    /// (<see cref="FinishReason.Length"/>), as OpenAI's is; a stop text may also cut it.
    /// </summary>
    JsonObject,

    /// <summary>
    /// OpenAI's structured outputs (<c>{"type": "json_schema", "json_schema": {"schema": …}}</c>): the reply is a JSON
    /// object valid under <see cref="CompletionRequest.JsonSchema"/>, by constrained decoding within JSON mode's bounds,
    /// its declared properties in their declared order. A schema keyword copal does not implement exactly is refused,
    /// never ignored. The reply ends as the object closes (<see cref="FinishReason.Stop"/>); one cut short is a prefix
    /// of a valid one (<see cref="FinishReason.Length"/>).
    /// </summary>
    JsonSchema,
}
