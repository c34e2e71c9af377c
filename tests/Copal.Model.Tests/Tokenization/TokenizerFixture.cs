using System.Collections.Concurrent;
using Copal.Model.Tokenization;
using Copal.Testing;

namespace Copal.Model.Tests.Tokenization;

/// <summary>
/// Loads each real tokenizer once per test run (the big ones take a noticeable fraction of a second) and shares it
/// across test classes; Tokenizer is thread-safe.
/// </summary>
public static class Tokenizers
{
    private static readonly ConcurrentDictionary<string, Lazy<CopalTokenizer>> s_cache = new();

    /// <summary>The names with a golden file: stories260K, llama2, mistral, llama3, qwen3, gpt2.</summary>
    public static readonly string[] Names = ["stories260K", "llama2", "mistral", "llama3", "qwen3", "gpt2"];

    public static CopalTokenizer Get(string name) => s_cache.GetOrAdd(name, n => new Lazy<CopalTokenizer>(() => Load(n))).Value;

    public static string Folder(string name) =>
        name == "stories260K" ? TestData.Stories260K : TestData.Path("tokenizers", name);

    private static CopalTokenizer Load(string name) => CopalTokenizer.FromDirectory(Folder(name));
}
