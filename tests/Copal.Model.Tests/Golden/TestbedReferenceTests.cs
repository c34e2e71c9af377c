using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using Copal.Model.Evaluation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Golden;

/// <summary>
/// The committed testbed model (testbed/models/copal-testbed-5m, made by tools/testbed): our tokenizer gives exactly
/// Debian sentencepiece's ids on every calibration and evaluation split, and our forward pass and perplexity match the
/// independent float64 torch reference (tools/reference) within the tolerance policy.
/// </summary>
public sealed class TestbedReferenceTests
{
    public const string ModelName = "copal-testbed-5m";

    private static string ModelDir => TestData.RepoPath("testbed", "models", ModelName);

    private static JsonElement Golden(string suffix) =>
        JsonDocument.Parse(File.ReadAllText(TestData.RepoPath("tests", "Copal.Model.Tests", "Golden", $"{ModelName}_{suffix}.json"))).RootElement;

    private static readonly Lazy<JsonElement> s_spIds = new(() => Golden("sp_ids"));
    private static readonly Lazy<JsonElement> s_logits = new(() => Golden("logits"));
    private static readonly Lazy<JsonElement> s_perplexity = new(() => Golden("perplexity"));
    private static readonly Lazy<CopalTokenizer> s_tokenizer = new(() => CopalTokenizer.FromDirectory(ModelDir));

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static JsonElement Named(JsonElement array, string key, string name) =>
        array.EnumerateArray().Single(e => e.GetProperty(key).GetString() == name);

    public static TheoryData<string> SplitFiles()
    {
        var data = new TheoryData<string>();
        foreach (JsonElement f in s_spIds.Value.GetProperty("files").EnumerateArray())
        {
            data.Add(f.GetProperty("path").GetString()!);
        }
        return data;
    }

    /// <summary>sha256 of the ids as little-endian uint16, as tools/testbed/tokenizer.py golden writes it.</summary>
    internal static string IdsSha256(ReadOnlySpan<int> ids)
    {
        byte[] raw = new byte[ids.Length * 2];
        for (int i = 0; i < ids.Length; i++)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(raw.AsSpan(2 * i), checked((ushort)ids[i]));
        }
        return Convert.ToHexStringLower(SHA256.HashData(raw));
    }

    [Theory]
    [MemberData(nameof(SplitFiles))]
    public void Tokenizer_gives_the_sentencepiece_ids(string path)
    {
        JsonElement g = Named(s_spIds.Value.GetProperty("files"), "path", path);
        string text = TextDataset.Load(TestData.RepoPath("testbed", "data", path));
        int[] ids = s_tokenizer.Value.Encode(text);
        Assert.Equal(Ints(g.GetProperty("first_32_ids")), ids.Take(32).ToArray());
        const int block = 4096;
        string[] blocks = g.GetProperty("block_sha256_16").EnumerateArray().Select(b => b.GetString()!).ToArray();
        for (int b = 0; b * block < ids.Length && b < blocks.Length; b++)
        {
            ReadOnlySpan<int> part = ids.AsSpan(b * block, Math.Min(block, ids.Length - b * block));
            Assert.True(IdsSha256(part)[..16] == blocks[b],
                $"{path}: ids {b * block}..{b * block + part.Length - 1} differ from sentencepiece's (block {b} of {blocks.Length})");
        }
        Assert.Equal(g.GetProperty("tokens").GetInt32(), ids.Length);
        Assert.Equal(g.GetProperty("sha256").GetString(), IdsSha256(ids));
    }

    [Fact]
    public void Ids_digest_is_the_golden_files_format()
    {
        // Python: hashlib.sha256(struct.pack("<3H", 1, 2, 4095)).hexdigest()
        Assert.Equal("b6142605081ff533e56a3db630ade6077df7bf316dc0b6327f9f1a7d3d603015", IdsSha256([1, 2, 4095]));
    }

    public static TheoryData<string> LogitCases()
    {
        var data = new TheoryData<string>();
        foreach (JsonElement c in s_logits.Value.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("name").GetString()!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(LogitCases))]
    public void Logits_match_the_reference(string name)
    {
        JsonElement c = Named(s_logits.Value.GetProperty("cases"), "name", name);
        int[] ids = Ints(c.GetProperty("ids"));
        Assert.Equal(ids, s_tokenizer.Value.Encode(c.GetProperty("text").GetString()!));
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(ModelDir, backend);
        int vocab = model.Config.VocabSize;
        using RunState state = model.CreateState(ids.Length, allRowLogits: true);
        model.Forward(state, ids, 0, LogitsMode.All);
        float[] logits = model.ReadLogits(state, ids.Length);
        SelectedLogits.AssertMatch(c, logits, vocab, name);
    }

    public static TheoryData<string> PerplexityDatasets()
    {
        var data = new TheoryData<string>();
        foreach (JsonElement d in s_perplexity.Value.GetProperty("datasets").EnumerateArray())
        {
            data.Add(d.GetProperty("name").GetString()!);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(PerplexityDatasets))]
    public void Perplexity_matches_the_reference(string name)
    {
        JsonElement d = Named(s_perplexity.Value.GetProperty("datasets"), "name", name);
        string domain = name[..name.IndexOf('_', StringComparison.Ordinal)];
        string text = TextDataset.Load(TestData.RepoPath("testbed", "data", domain, "eval.txt"));
        int chars = d.GetProperty("characters").GetInt32();
        int[] ids = s_tokenizer.Value.Encode(text[..chars]);
        Assert.Equal(d.GetProperty("tokens").GetInt32(), ids.Length);
        Assert.Equal(Ints(d.GetProperty("first_16_ids")), ids[..16]);
        Assert.Equal(Ints(d.GetProperty("last_16_ids")), ids[^16..]);
        JsonElement r = d.GetProperty("results")[0];
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(ModelDir, backend);
        PerplexityResult result = PerplexityEvaluator.Evaluate(model, ids, new PerplexityOptions(r.GetProperty("seqlen").GetInt32()));
        Assert.Equal(r.GetProperty("windows").GetInt32(), result.Chunks);
        Assert.Equal(r.GetProperty("predicted_tokens").GetInt64(), result.PredictedTokens);
        double expected = r.GetProperty("ppl").GetDouble();
        Assert.True(Math.Abs(result.Perplexity - expected) <= Tolerances.PerplexityRelative * expected,
            $"{name}: ppl {result.Perplexity:R}, reference {expected:R} (relative difference {Math.Abs(result.Perplexity - expected) / expected:E2})");
    }
}
