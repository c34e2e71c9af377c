using System.Collections.Concurrent;
using System.Text.Json;
using Copal.Testing;

namespace Copal.Model.Tests.Tokenization;

/// <summary>One line of a golden file (format in shared/data/README.md).</summary>
public sealed record GoldenCase(string Text, int[] Ids, string[] Tokens, string Decoded, string DecodedRaw)
{
    private static readonly ConcurrentDictionary<string, GoldenCase[]> s_files = new();

    public static GoldenCase[] Load(string path) => s_files.GetOrAdd(path, p => File.ReadLines(p)
        .Where(l => l.Length > 0)
        .Select(l =>
        {
            using JsonDocument d = JsonDocument.Parse(l);
            JsonElement r = d.RootElement;
            return new GoldenCase(r.GetProperty("text").GetString()!,
                r.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                r.GetProperty("tokens").EnumerateArray().Select(x => x.GetString()!).ToArray(),
                r.GetProperty("decoded").GetString()!, r.GetProperty("decoded_raw").GetString()!);
        }).ToArray());

    /// <summary>The shared golden file of a tokenizer.</summary>
    public static string SharedPath(string name) => TestData.Path("tokenizers", "golden", name + ".jsonl");
}
