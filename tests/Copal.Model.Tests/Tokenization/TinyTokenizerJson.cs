using System.Text.Json.Nodes;
using Copal.Model.Tokenization;

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

    /// <summary>Loads a tokenizer from <paramref name="json"/> through a temp file, deleted again before returning.</summary>
    public static CopalTokenizer Load(JsonNode json)
    {
        using TempPath file = WriteText(json.ToJsonString());
        return CopalTokenizer.FromFile(file.Path);
    }

    /// <summary>Writes raw text to a temp file, deleted when the result is disposed.</summary>
    public static TempPath WriteText(string text)
    {
        var file = new TempPath(Path.Combine(Path.GetTempPath(), $"copal-tok-{Guid.NewGuid():N}.json"));
        File.WriteAllText(file.Path, text);
        return file;
    }

    /// <summary>A fresh folder under the temp folder, deleted with its files when the result is disposed.</summary>
    public static TempPath Folder()
    {
        var dir = new TempPath(Path.Combine(Path.GetTempPath(), $"copal-tok-{Guid.NewGuid():N}"));
        Directory.CreateDirectory(dir.Path);
        return dir;
    }

    /// <summary>A temp file or folder of a test, deleted on dispose.</summary>
    public sealed class TempPath : IDisposable
    {
        public TempPath(string path)
        {
            Path = path;
            s_recorder.Value?.Add(path);
        }

        public string Path { get; }

        public void Dispose()
        {
            if (Directory.Exists(Path))
            {
                Directory.Delete(Path, recursive: true);
            }
            else
            {
                File.Delete(Path);
            }
        }
    }

    private static readonly AsyncLocal<List<string>?> s_recorder = new();

    /// <summary>Until disposed, the paths this thread's calls create are added to <paramref name="paths"/> (for the leak test).</summary>
    public static IDisposable Record(List<string> paths)
    {
        s_recorder.Value = paths;
        return new Stop();
    }

    private sealed class Stop : IDisposable
    {
        public void Dispose() => s_recorder.Value = null;
    }
}
