using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.Serving;

namespace Copal.Cli.Serving;

/// <summary>
/// The tokenizer endpoints vLLM's server has and lm-evaluation-harness's remote tokenizer uses (with them it takes
/// the served model's own tokenizer, and needs no copy of it): <c>GET /tokenizer_info</c>, <c>POST /tokenize</c> of
/// a prompt and <c>POST /detokenize</c> of token ids.
/// </summary>
internal static partial class OpenAiRequests
{
    /// <summary>The special tokens, the chat template and the context, as vLLM's <c>/tokenizer_info</c> names them.</summary>
    public static JsonObject TokenizerInfo(InferenceEngine engine, Copal.Model.Chat.IChatFormatter formatter)
    {
        string? Token(int? id) => id is int i ? engine.Tokenizer.IdToToken(i) : null;
        return new JsonObject
        {
            ["tokenizer_class"] = "CopalTokenizer",
            ["bos_token"] = Token(engine.Tokenizer.BosId),
            ["eos_token"] = Token(engine.Tokenizer.EosId),
            ["pad_token"] = null,
            ["unk_token"] = Token(engine.Tokenizer.UnkId),
            // The model's own template, for a client that renders it (a model without one is chatted with in a plain format).
            ["chat_template"] = (formatter as Copal.Model.Chat.TemplateChatFormatter)?.Template.DefaultText,
            ["model_max_length"] = engine.ContextSize,
        };
    }

    /// <summary><c>{"prompt": text, "add_special_tokens": true}</c> to <c>{"count", "max_model_len", "tokens"}</c>.</summary>
    /// <remarks><paramref name="cancellationToken"/> (the client gone) stops the encoding of a long text within a word.</remarks>
    public static JsonObject Tokenize(JsonElement body, InferenceEngine engine, CancellationToken cancellationToken)
    {
        CheckModelIfGiven(body, engine);
        if (Field(body, "messages") is not null)
        {
            throw Unsupported("messages", "/tokenize takes a prompt; messages are not supported (a chat's prompt is its template's, which /v1/chat/completions renders)");
        }
        JsonElement prompt = Field(body, "prompt") ?? throw OpenAiException.BadRequest("prompt", "prompt is required");
        if (prompt.ValueKind != JsonValueKind.String)
        {
            throw OpenAiException.BadRequest("prompt", $"prompt must be a string, got {Actual(prompt)}");
        }
        // The answer is written from the encode's own list: an array of the ids copied from it took 4 bytes an id more.
        var ids = new List<int>();
        engine.Tokenizer.EncodeInto(prompt.GetString()!, Boolean(body, "add_special_tokens") ?? true, ids, progress: null, cancellationToken);
        return new JsonObject
        {
            ["count"] = ids.Count,
            ["max_model_len"] = engine.ContextSize,
            // One value written from the ids, not a node per id (about 60 bytes each: 28 MB of text held 3.2 GB).
            ["tokens"] = JsonValue.Create(ids, s_ids),
        };
    }

    // Integers are written alike under any settings: the default ones, which are ready to use. A list of them is
    // written as an array is.
    private static readonly System.Text.Json.Serialization.Metadata.JsonTypeInfo<List<int>> s_ids =
        (System.Text.Json.Serialization.Metadata.JsonTypeInfo<List<int>>)JsonSerializerOptions.Default.GetTypeInfo(typeof(List<int>));

    /// <summary><c>{"tokens": [ids]}</c> to <c>{"prompt": text}</c>, special tokens written out (vLLM's and Hugging Face's decode).</summary>
    public static JsonObject Detokenize(JsonElement body, InferenceEngine engine) => Detokenize(body, engine, tokenIds: null);

    /// <summary>
    /// <see cref="Detokenize(JsonElement, InferenceEngine)"/> of a body whose tokens, when they are an array of
    /// numbers, are <paramref name="tokenIds"/>, read apart from its document (<see cref="TokenIdArrays"/>) and checked
    /// as the document's are, the first id out of range or not an integer named as written.
    /// </summary>
    public static JsonObject Detokenize(JsonElement body, InferenceEngine engine, TokenIdArrays? tokenIds)
    {
        CheckModelIfGiven(body, engine);
        JsonElement tokens = Field(body, "tokens") ?? throw OpenAiException.BadRequest("tokens", "tokens is required");
        if (tokens.ValueKind != JsonValueKind.Array)
        {
            throw OpenAiException.BadRequest("tokens", $"tokens must be an array of token ids, got {Actual(tokens)}");
        }
        int vocab = engine.Tokenizer.VocabSize;
        string Refused(string id) => $"tokens must be token ids in 0..{vocab - 1}, got {id}";
        int[] ids;
        if (tokenIds is not null)
        {
            (ids, string? refused) = tokenIds.Read(id => id >= 0 && id < vocab);
            if (refused is not null)
            {
                throw OpenAiException.BadRequest("tokens", Refused(refused));
            }
        }
        else
        {
            ids = [.. tokens.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int id) && id >= 0 && id < vocab ? id
                : throw OpenAiException.BadRequest("tokens", Refused(e.GetRawText())))];
        }
        return new JsonObject { ["prompt"] = engine.Tokenizer.Decode(ids, skipSpecialTokens: false) };
    }

    /// <summary>
    /// The model is optional on the tokenizer endpoints, as in vLLM's; one given must be the served model, as on the
    /// generation endpoints (404 <c>model_not_found</c> otherwise): another model's tokenizer would give other ids.
    /// </summary>
    private static void CheckModelIfGiven(JsonElement body, InferenceEngine engine)
    {
        if (Field(body, "model") is not null)
        {
            CheckModel(body, engine);
        }
    }
}
