using System.Text.Json;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Golden;

/// <summary>
/// Copal's forward pass against the independent float64 torch reference (tools/reference/llama_reference.py):
/// every logit within <see cref="Tolerances.LogitsAbsolute"/>, the same top-1 token at every position, and the
/// same token ids from our tokenizer as from the reference's own SentencePiece-BPE encoder.
/// </summary>
public sealed class ReferenceLogitsTests : IDisposable
{
    private static readonly Lazy<JsonDocument> s_golden = new(() =>
        JsonDocument.Parse(File.ReadAllText(TestData.RepoPath("tests", "Copal.Model.Tests", "Golden", "stories260K_logits.json"))));

    private readonly CpuBackend _backend = new();
    private readonly LlamaModel _model;
    private readonly CopalTokenizer _tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);

    public ReferenceLogitsTests() => _model = LlamaModel.Load(TestData.Stories260K, _backend);

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (JsonElement c in s_golden.Value.RootElement.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("name").GetString()!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logits_match_the_reference(string name)
    {
        JsonElement c = s_golden.Value.RootElement.GetProperty("cases").EnumerateArray().Single(e => e.GetProperty("name").GetString() == name);
        int[] ids = c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        if (c.TryGetProperty("text", out JsonElement text) && text.ValueKind == JsonValueKind.String)
        {
            Assert.Equal(ids, _tokenizer.Encode(text.GetString()!));
        }
        int vocab = _model.Config.VocabSize;
        using RunState state = _model.CreateState(ids.Length, allRowLogits: true);
        _model.Forward(state, ids, 0, LogitsMode.All);
        float[] logits = _model.ReadLogits(state, ids.Length);
        int t = 0;
        foreach (JsonElement row in c.GetProperty("logits").EnumerateArray())
        {
            float[] expected = row.EnumerateArray().Select(e => (float)e.GetDouble()).ToArray();
            ReadOnlySpan<float> actual = logits.AsSpan(t * vocab, vocab);
            Tolerances.AssertClose(actual, expected, relative: 0, absolute: Tolerances.LogitsAbsolute, what: $"{name} logits at position {t}");
            Assert.Equal(Copal.Model.Generation.Sampler.ArgMax(expected), Copal.Model.Generation.Sampler.ArgMax(actual));
            t++;
        }
        Assert.Equal(ids.Length, t);
    }

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
    }
}
