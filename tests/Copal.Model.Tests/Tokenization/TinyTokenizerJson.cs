using System.Text.Json.Nodes;

namespace Copal.Model.Tests.Tokenization;

/// <summary>Writes small hand-made tokenizer.json files for behavior and error tests.</summary>
internal static class TinyTokenizerJson
{
    /// <summary>A SentencePiece-style BPE over a, b, c, ▁ with merges a b, ab c, ▁ ab.</summary>
    public static JsonObject Spm() => new()
    {
        ["version"] = "1.0",
        ["added_tokens"] = new JsonArray(
            Added(0, "<unk>", special: true), Added(1, "<s>", special: true), Added(2, "</s>", special: true)),
        ["normalizer"] = null,
        ["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "first", ["split"] = false,
        },
        ["post_processor"] = null,
        ["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "\u2581", ["prepend_scheme"] = "first" },
        ["model"] = new JsonObject
        {
            ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["fuse_unk"] = true, ["byte_fallback"] = false,
            ["vocab"] = new JsonObject
            {
                ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2, ["a"] = 3, ["b"] = 4, ["c"] = 5, ["\u2581"] = 6,
                ["ab"] = 7, ["abc"] = 8, ["\u2581ab"] = 9,
            },
            ["merges"] = new JsonArray("a b", "ab c", "\u2581 ab"),
        },
    };

    public static JsonObject Added(int id, string content, bool special, bool lstrip = false, bool rstrip = false,
        bool singleWord = false, bool normalized = false) => new()
    {
        ["id"] = id, ["content"] = content, ["single_word"] = singleWord, ["lstrip"] = lstrip, ["rstrip"] = rstrip,
        ["normalized"] = normalized, ["special"] = special,
    };

    /// <summary>Writes the JSON (or raw text) to a temp file and returns its path.</summary>
    public static string Write(JsonNode json) => WriteText(json.ToJsonString());

    public static string WriteText(string text)
    {
        string path = Path.Combine(Path.GetTempPath(), $"copal-tok-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, text);
        return path;
    }
}
