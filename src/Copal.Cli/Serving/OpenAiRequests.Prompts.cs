using System.Text.Json;
using Copal.Model.Serving;

namespace Copal.Cli.Serving;

/// <summary>
/// What a request asks the engine to generate: completions' prompts, in OpenAI's four shapes, and n, the choices per
/// prompt. Each prompt becomes an engine request of its own, each choice a run of it (<see cref="OpenAiChoices"/>).
/// </summary>
internal static partial class OpenAiRequests
{
    /// <summary>
    /// The most choices per prompt (n), OpenAI's own bound. Each choice is a sequence of its own (with its own KV cache,
    /// up to --parallel at once; the rest wait in the queue), so a large n decodes as that many requests; the choices
    /// admitted together run their prompt once and copy its cache.
    /// </summary>
    public const int MaxChoices = 128;

    /// <summary>
    /// The most choices one request may ask for, prompts × n. Each waits in the engine's queue, first in first out, so
    /// without a bound a body of a few kilobytes ([[1]] × 3000 with n 128) queued 384,000 sequences, took 1.8 GB and
    /// held every other client back for half a minute. lm-evaluation-harness sends a batch of prompts (its batch
    /// size, 1 by default) per request.
    /// </summary>
    public const int MaxChoicesPerRequest = 1024;

    /// <summary>Refuses <paramref name="prompts"/> × <paramref name="n"/> choices past <see cref="MaxChoicesPerRequest"/>.</summary>
    private static void RequireChoicesWithinBound(int prompts, int n)
    {
        if ((long)prompts * n > MaxChoicesPerRequest)
        {
            throw n == 1
                ? OpenAiException.BadRequest("prompt", $"prompt holds {prompts} prompts, more than the {MaxChoicesPerRequest} one request may ask for; send them in several requests")
                : OpenAiException.BadRequest("n", $"n {n} × {prompts} prompts asks for {(long)prompts * n} choices, more than the {MaxChoicesPerRequest} one request may ask for; send fewer prompts per request");
        }
    }

    /// <summary>n: how many choices to generate for each prompt, in 1..<see cref="MaxChoices"/>; 1 when absent.</summary>
    private static int Choices(JsonElement body) => Integer(body, "n", 1, MaxChoices) ?? 1;

    /// <summary>
    /// Completions' prompt in OpenAI's four shapes: a string, an array of strings, an array of token ids, or an array of
    /// such arrays; one engine request per prompt, the sampling of <paramref name="request"/>, in the prompts' order.
    /// Shapes are not mixed: an array of strings and token-id arrays fits none. An array of several prompts is counted
    /// against the bound (<paramref name="n"/> choices each) before any is read: each became a request first, so a
    /// 28 MB body of 7 million prompts took 2.1 GB for the 400 its count decides.
    /// </summary>
    /// <remarks>
    /// A prompt of token ids read apart from the document (<paramref name="ids"/>, <see cref="TokenIdArrays"/>) is
    /// checked as the document's array is, in the same order and words: its count first, then each prompt's ids.
    /// </remarks>
    private static List<CompletionRequest> Prompts(JsonElement body, CompletionRequest request, int n, TokenIdArrays? ids)
    {
        JsonElement prompt = Field(body, "prompt") ?? throw OpenAiException.BadRequest("prompt", "prompt is required");
        if (ids is not null)
        {
            if (!ids.Nested)
            {
                return [request with { PromptIds = TokenIds(ids.Read(AnyId), at: "prompt") }];
            }
            RequireChoicesWithinBound(ids.Count, n);
            bool single = ids.Count == 1;
            return [.. ids.ReadEach(AnyId).Select((e, i) => request with { PromptIds = TokenIds(e, single ? "prompt" : $"prompt[{i}]") })];
        }
        if (prompt.ValueKind == JsonValueKind.String)
        {
            return [request with { Prompt = prompt.GetString() }];
        }
        if (prompt.ValueKind == JsonValueKind.Array && prompt.GetArrayLength() > 0)
        {
            if (prompt.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number))
            {
                return [request with { PromptIds = TokenIds(prompt, at: "prompt") }];
            }
            if (prompt.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
            {
                RequireChoicesWithinBound(prompt.GetArrayLength(), n);
                return [.. prompt.EnumerateArray().Select(e => request with { Prompt = e.GetString() })];
            }
            if (prompt.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Array))
            {
                RequireChoicesWithinBound(prompt.GetArrayLength(), n);
                // One array is the prompt itself: its errors name it as the shape of one token-id prompt does.
                bool one = prompt.GetArrayLength() == 1;
                return [.. prompt.EnumerateArray().Select((e, i) => request with { PromptIds = TokenIds(e, one ? "prompt" : $"prompt[{i}]") })];
            }
        }
        throw OpenAiException.BadRequest("prompt", $"prompt must be a string, an array of strings, an array of token ids or an array of such arrays, got {PromptShape(prompt)}");
    }

    /// <summary>A prompt of token ids: a non-empty array of integers; <paramref name="at"/> is how an error names it.</summary>
    private static int[] TokenIds(JsonElement ids, string at)
    {
        if (!ids.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number))
        {
            throw OpenAiException.BadRequest("prompt", $"{at} must be a non-empty array of token ids, got {PromptShape(ids)}");
        }
        var read = new List<int>(ids.GetArrayLength());
        foreach (JsonElement e in ids.EnumerateArray())
        {
            if (!e.TryGetInt32(out int id))
            {
                return TokenIds(([.. read], e.GetRawText()), at);
            }
            read.Add(id);
        }
        return TokenIds(([.. read], null), at);
    }

    private static bool AnyId(int id) => true;

    /// <summary>
    /// A prompt of token ids known to be numbers, read in the document or apart from it (<see cref="TokenIdArrays"/>):
    /// the ids up to the first number that is not a 32-bit integer, and that number as written. Both ways are checked
    /// here, so they answer in the same words.
    /// </summary>
    private static int[] TokenIds((int[] Ids, string? Refused) read, string at)
    {
        if (read.Ids.Length == 0 && read.Refused is null)
        {
            throw OpenAiException.BadRequest("prompt", $"{at} must be a non-empty array of token ids, got an empty array");
        }
        return read.Refused is string number
            ? throw OpenAiException.BadRequest("prompt", $"{at} must hold integer token ids, got {Cut(number)}")
            : read.Ids;
    }

    /// <summary>What a prompt that fits none of OpenAI's shapes is, e.g. "an array of numbers and strings".</summary>
    private static string PromptShape(JsonElement prompt)
    {
        if (prompt.ValueKind != JsonValueKind.Array)
        {
            return Actual(prompt);
        }
        if (prompt.GetArrayLength() == 0)
        {
            return "an empty array";
        }
        string[] kinds = [.. prompt.EnumerateArray().Select(e => e.ValueKind switch
        {
            JsonValueKind.Object => "objects",
            JsonValueKind.Array => "arrays",
            JsonValueKind.String => "strings",
            JsonValueKind.Number => "numbers",
            JsonValueKind.True or JsonValueKind.False => "booleans",
            _ => "nulls",
        }).Distinct()];
        return $"an array of {string.Join(" and ", kinds)}";
    }
}
