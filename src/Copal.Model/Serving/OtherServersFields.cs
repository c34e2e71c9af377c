using System.Text.Json;

namespace Copal.Model.Serving;

/// <summary>
/// Request fields of vLLM's and llama.cpp's OpenAI-compatible servers that copal does not implement, each with the test
/// of its value that changes nothing. An unknown field is accepted as one without effect, but these change the text a
/// client gets (typical_p 0.2 keeps a few tokens; llama.cpp's n_predict bounds the length), so one set to another
/// value is refused: by <c>copal serve</c> as a request field (400 unsupported_parameter), and by
/// <see cref="Chat.CopalChatClient"/> as an entry of <c>ChatOptions.AdditionalProperties</c>, where a caller of an
/// OpenAI-compatible server puts them.
/// </summary>
internal static class OtherServersFields
{
    private static readonly (string Name, Func<JsonElement, bool> IsNeutral, string Instead)[] s_fields =
    [
        ("typical_p", e => IsNumber(e, 1), "leave it out"),
        ("tfs_z", e => IsNumber(e, 1), "leave it out"),
        ("top_a", e => IsNumber(e, 0), "leave it out"),
        ("mirostat", e => IsNumber(e, 0), "leave it out"),
        ("min_tokens", e => IsNumber(e, 0), "leave it out"),
        ("repeat_penalty", e => IsNumber(e, 1), "give HF's repetition_penalty instead"),
        ("n_predict", _ => false, "give max_tokens instead"),
        // llama.cpp's other samplers: DRY's repetition penalty, XTC, dynamic temperature, top-nσ (-1 is its off).
        ("dry_multiplier", e => IsNumber(e, 0), "leave it out"),
        ("xtc_probability", e => IsNumber(e, 0), "leave it out"),
        ("dynatemp_range", e => IsNumber(e, 0), "leave it out"),
        ("top_n_sigma", e => IsNumber(e, -1), "leave it out"),
        ("ignore_eos", e => e.ValueKind == JsonValueKind.False, "leave it out"),
        ("include_stop_str_in_output", e => e.ValueKind == JsonValueKind.False, "leave it out"),
        ("stop_token_ids", e => e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 0, "give stop texts in stop instead"),
        ("skip_special_tokens", e => e.ValueKind == JsonValueKind.True, "leave it out: the reply's text never holds special tokens"),
        // Constrained decoding asked for in vLLM's and llama.cpp's own fields: ignored, the reply would be free text
        // where the client counts on JSON of its schema, a regular expression's match or one of its choices.
        ("guided_json", _ => false, GuidedInstead),
        ("structured_outputs", _ => false, GuidedInstead),
        ("json_schema", _ => false, GuidedInstead),
        ("guided_regex", _ => false, GuidedInstead),
        ("guided_choice", _ => false, GuidedInstead),
        ("guided_grammar", _ => false, GuidedInstead),
        ("grammar", e => e.ValueKind == JsonValueKind.String && e.GetString()!.Length == 0, GuidedInstead), // llama.cpp's default, none
        // vLLM's sampling and prompt fields: beam search, a token set allowed or words banned, a prompt cut to its
        // last tokens, its log-probabilities in vLLM's own field, token strings written as ids.
        ("use_beam_search", e => e.ValueKind == JsonValueKind.False, "leave it out: copal samples, it does not search beams"),
        ("length_penalty", e => IsNumber(e, 1), "leave it out: it scores beams, which copal does not search"),
        ("allowed_token_ids", _ => false, "leave it out, or ban tokens with logit_bias -100"),
        ("bad_words", e => e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 0, "leave it out, or ban tokens with logit_bias -100"),
        ("truncate_prompt_tokens", _ => false, "leave it out: a prompt is never cut; one past the context is refused"),
        ("prompt_logprobs", _ => false, "completions score the prompt with echo and logprobs"),
        ("return_tokens_as_token_ids", e => e.ValueKind == JsonValueKind.False, "leave it out"),
    ];

    /// <summary>
    /// vLLM's chat fields that change the prompt or the reply: an assistant message continued rather than answered, a
    /// template or documents of the request's own, the last message echoed. Ignored, the reply would answer another
    /// prompt than the one the client built.
    /// </summary>
    private static readonly (string Name, Func<JsonElement, bool> IsNeutral, string Instead)[] s_chatFields =
    [
        ("add_generation_prompt", e => e.ValueKind == JsonValueKind.True, "leave it out: the prompt always ends with the assistant's turn opened"),
        ("continue_final_message", e => e.ValueKind == JsonValueKind.False, "leave it out: a last assistant message is answered, not continued; continue a text with /v1/completions"),
        ("chat_template", _ => false, "leave it out: the model's own template renders the messages"),
        ("documents", e => e.ValueKind == JsonValueKind.Array && e.GetArrayLength() == 0, "leave it out, or give the documents' text in a message"),
        ("echo", e => e.ValueKind == JsonValueKind.False, "leave it out"),
    ];

    private const string GuidedInstead = "copal constrains a reply only by response_format: {\"type\": \"json_schema\", \"json_schema\": {\"name\": …, \"schema\": …}} or {\"type\": \"json_object\"}";

    private static bool IsNumber(JsonElement e, double value) => e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out double v) && v == value;

    /// <summary>
    /// The first of the fields that <paramref name="field"/> finds set to a value that changes the reply: its name, the
    /// value, and what to do instead; null when there is none. <paramref name="field"/> gives a field's value, or null
    /// where it is absent (JSON null is OpenAI's "not given" too). <paramref name="chatFields"/> picks the chat
    /// endpoint's own fields rather than the sampling fields both endpoints share.
    /// </summary>
    public static (string Name, JsonElement Value, string Instead)? FirstSet(Func<string, JsonElement?> field, bool chatFields = false)
    {
        ArgumentNullException.ThrowIfNull(field);
        foreach ((string name, Func<JsonElement, bool> isNeutral, string instead) in chatFields ? s_chatFields : s_fields)
        {
            if (field(name) is JsonElement e && e.ValueKind != JsonValueKind.Null && !isNeutral(e))
            {
                return (name, e, instead);
            }
        }
        return null;
    }
}
