using BenchmarkDotNet.Attributes;
using Copal.Model.Tokenization;
using Microsoft.ML.Tokenizers;

namespace Copal.Benchmarks.Tokenization;

/// <summary>
/// Encodes all of WikiText-2 raw test (test.joined.txt, 1.3 MB) with real tokenizers, steady state (caches warm).
/// Throughput in MB/s is 1.296 / mean seconds. EncodeViaTokenizerApi goes through Microsoft.ML.Tokenizers'
/// Tokenizer.EncodeToIds, as another library would. Data: $COPAL_SHARED_DATA, else ../shared/data beside the
/// repository.
/// Run: dotnet run -c Release --project benchmarks/Copal.Benchmarks -- --filter *TokenizerBenchmarks*
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private CopalTokenizer _tokenizer = null!;
    private string _text = "";
    private int[] _ids = [];

    [Params("llama3", "qwen3", "llama2", "mistral", "stories260K", "gpt2")]
    public string Name { get; set; } = "llama3";

    [GlobalSetup]
    public void Setup()
    {
        _tokenizer = CopalTokenizer.FromDirectory(Folder(Name));
        _text = Utf8Text.ReadFileStrict(Path.Combine(SharedData(), "text", "wikitext-2-raw-v1", "test.joined.txt"));
        _ids = _tokenizer.Encode(_text);
    }

    [Benchmark]
    public int EncodeWikiText() => _tokenizer.Encode(_text).Length;

    [Benchmark]
    public int EncodeViaTokenizerApi() => ((Tokenizer)_tokenizer).EncodeToIds(_text).Count;

    [Benchmark]
    public int DecodeWikiText() => _tokenizer.Decode(_ids).Length;

    /// <summary>Load plus a first short encode (the byte-level BPE table is built on first use).</summary>
    [Benchmark]
    public int LoadAndEncodeShort() => CopalTokenizer.FromDirectory(Folder(Name)).Encode("Hello world, tokenizers!").Length;

    private static string Folder(string name) => name == "stories260K"
        ? Path.Combine(SharedData(), "models", "stories260K")
        : Path.Combine(SharedData(), "tokenizers", name);

    internal static string SharedData()
    {
        string? env = Environment.GetEnvironmentVariable("COPAL_SHARED_DATA");
        if (!string.IsNullOrEmpty(env))
        {
            return env;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Copal.sln")))
            {
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
            }
        }
        throw new DirectoryNotFoundException("shared data not found: set COPAL_SHARED_DATA");
    }
}
