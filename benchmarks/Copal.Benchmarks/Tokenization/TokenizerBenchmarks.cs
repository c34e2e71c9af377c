using BenchmarkDotNet.Attributes;
using Copal.Model.Tokenization;

namespace Copal.Benchmarks.Tokenization;

/// <summary>
/// Encodes all of WikiText-2 raw test (test.joined.txt, 1.3 MB) with real tokenizers. Throughput in MB/s is
/// 1.296 / mean seconds. Data: $COPAL_SHARED_DATA, else ../shared/data beside the repository.
/// Run: dotnet run -c Release --project benchmarks/Copal.Benchmarks -- --filter *TokenizerBenchmarks*
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private CopalTokenizer _tokenizer = null!;
    private string _text = "";
    private int[] _ids = [];

    [Params("llama2", "llama3", "qwen3", "gpt2")]
    public string Name { get; set; } = "llama2";

    [GlobalSetup]
    public void Setup()
    {
        string data = SharedData();
        _tokenizer = CopalTokenizer.FromDirectory(Path.Combine(data, "tokenizers", Name));
        _text = Utf8Text.ReadFileStrict(Path.Combine(data, "text", "wikitext-2-raw-v1", "test.joined.txt"));
        _ids = _tokenizer.Encode(_text);
    }

    [Benchmark]
    public int EncodeWikiText() => _tokenizer.Encode(_text).Length;

    [Benchmark]
    public int DecodeWikiText() => _tokenizer.Decode(_ids).Length;

    [Benchmark]
    public int Load() => CopalTokenizer.FromDirectory(Path.Combine(SharedData(), "tokenizers", Name)).VocabSize;

    private static string SharedData()
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
