using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.Config;
using Copal.Model.Evaluation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Golden;

/// <summary>
/// The committed testbed model's trained weights run as other architectures, against the independent float64 torch
/// reference (tools/reference, <c>variant-goldens</c>): as a Mistral with a sliding window of 32 positions (its
/// context is 256), as a Qwen3 with per-head q/k RMSNorm weights the golden lists, and as a Phi-3 whose RoPE turns
/// half of each head with longrope factors that switch from the short to the long list at position 64 (Phi-4-mini's
/// kind of RoPE), as a Granite with its embedding, residual, attention and logits multipliers, and as an OLMo 2 (each
/// branch's output normed before its residual add, q/k norms across all heads, with weights the golden lists), as a
/// Gemma 3 (norms before and after each branch applied as 1 + w, per-head q/k norms, a GELU-tanh gate, embeddings ×16
/// tied to the head, scores ×64^−½, four sliding layers of 24 positions with RoPE base 10⁴ around one global layer
/// with base 10⁶ under linear scaling), with Qwen2.5's YaRN block (factor 4 over its unchanged context, which
/// rope_scaling names as the original one), as a Qwen2 (q/k/v biases the golden lists; layers 3 and 4 slide through 16
/// positions from max_window_layers on), and as a LLaMA with attention_bias (q/k/v and o_proj biases) and Llama 3.1's
/// RoPE scaling over a 64-position original context (pairs in all three of its bands). Logits and perplexity match
/// within the tolerance policy, and each golden's perplexity without the variant's point (no window, no q/k norm)
/// lies far outside it, so a model that ignored the point could not pass.
/// </summary>
public sealed class VariantReferenceTests : IDisposable
{
    private readonly List<string> _folders = [];

    public void Dispose()
    {
        foreach (string folder in _folders)
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static JsonElement Golden(string variant) => JsonDocument.Parse(File.ReadAllText(
        TestData.RepoPath("tests", "Copal.Model.Tests", "Golden", $"{TestbedReferenceTests.ModelName}_variant_{variant}.json"))).RootElement;

    /// <summary>
    /// The testbed model's files with the golden's config changes; extra tensors go into a second shard of a sharded
    /// checkpoint (the testbed's own tensors, less those the variant has no place for, are the first), as a Hugging
    /// Face export of such a model would hold them.
    /// </summary>
    private string Write(JsonElement golden)
    {
        string folder = Directory.CreateTempSubdirectory("copal-variant-").FullName;
        _folders.Add(folder);
        string source = TestData.RepoPath("testbed", "models", TestbedReferenceTests.ModelName);
        foreach (string file in Directory.GetFiles(source).Where(f => Path.GetFileName(f) != SafetensorsCheckpoint.SingleFileName))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }
        JsonObject config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!.AsObject();
        foreach (KeyValuePair<string, JsonNode?> change in JsonNode.Parse(golden.GetProperty("config_changes").GetRawText())!.AsObject())
        {
            config[change.Key] = change.Value?.DeepClone();
        }
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());

        const string First = "model-00001-of-00002.safetensors", Second = "model-00002-of-00002.safetensors";
        // OLMo 2 norms each branch's output, not its input: its checkpoints hold no input_layernorm, and one the model
        // does not read is refused.
        bool olmo2 = config["architectures"]?[0]?.GetValue<string>() == "Olmo2ForCausalLM";
        var map = new JsonObject();
        using (SafetensorsCheckpoint testbed = SafetensorsCheckpoint.Open(source))
        {
            TensorView[] kept = [.. testbed.Tensors.Where(t => !(olmo2 && t.Name.EndsWith(".input_layernorm.weight", StringComparison.Ordinal)))];
            using SafetensorsWriter writer = SafetensorsWriter.Create(Path.Combine(folder, First), [.. kept.Select(t => new TensorSpec(t.Name, t.DType, t.Shape))]);
            foreach (TensorView t in kept)
            {
                writer.Write(t.Name, t.Bytes);
                map[t.Name] = First;
            }
            writer.Commit();
        }
        var extra = golden.GetProperty("extra_tensors").EnumerateObject()
            .Select(p => (p.Name, Values: p.Value.EnumerateArray().Select(v => (float)v.GetDouble()).ToArray())).ToList();
        using (SafetensorsWriter writer = SafetensorsWriter.Create(Path.Combine(folder, Second),
                   [.. extra.Select(e => new TensorSpec(e.Name, DType.F32, [e.Values.Length]))]))
        {
            foreach ((string name, float[] values) in extra)
            {
                writer.Write(name, MemoryMarshal.AsBytes(values.AsSpan()));
                map[name] = Second;
            }
            writer.Commit();
        }
        File.WriteAllText(Path.Combine(folder, SafetensorsCheckpoint.IndexFileName), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        return folder;
    }

    private static int[] Tokens(JsonElement golden, string model)
    {
        string text = TextDataset.Load(TestData.RepoPath("testbed", "data", "stories", golden.GetProperty("text").GetString()!));
        int[] ids = CopalTokenizer.FromDirectory(model).Encode(text[..golden.GetProperty("characters").GetInt32()]);
        Assert.Equal(golden.GetProperty("tokens").GetInt32(), ids.Length);
        Assert.Equal(Ints(golden.GetProperty("first_16_ids")), ids[..16]);
        Assert.Equal(Ints(golden.GetProperty("last_16_ids")), ids[^16..]);
        return ids;
    }

    private static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];

    /// <summary>Every variant with a reference here (the *_variant_*.json files).</summary>
    public static TheoryData<string> Variants => ["window32", "qwen3", "phi4mini", "granite", "olmo2", "yarn", "gemma3", "qwen2", "llama3bias"];

    [Theory]
    [MemberData(nameof(Variants))]
    public void Logits_match_the_reference(string variant)
    {
        JsonElement golden = Golden(variant);
        string dir = Write(golden);
        JsonElement c = golden.GetProperty("case");
        int[] ids = Ints(c.GetProperty("ids"));
        Assert.Equal(ids, Tokens(golden, dir)[..ids.Length]);
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(dir, backend);
        Assert.Equal(variant switch { "window32" => 32, "gemma3" => 24, "qwen2" => 16, _ => (int?)null }, model.Config.SlidingWindow);
        Assert.Equal((variant is "qwen2" or "llama3bias", variant == "llama3bias"), (model.Config.AttentionBias, model.Config.OutputProjectionBias));
        Assert.Equal(variant is "qwen3" or "olmo2" or "gemma3", model.Config.QueryKeyNorm);
        Assert.Equal(variant == "olmo2", model.Config.PostBranchNorms);
        Assert.Equal(variant is "granite" or "gemma3", model.Config.HasMultipliers);
        Assert.Equal(variant switch { "phi4mini" => (16, RopeScalingKind.LongRope), "gemma3" => (32, RopeScalingKind.Linear), "yarn" => (32, RopeScalingKind.Yarn), "llama3bias" => (32, RopeScalingKind.Llama3), _ => (32, RopeScalingKind.None) },
            (model.Config.RotaryDim, model.Config.RopeScaling.Kind));
        if (variant == "gemma3")
        {
            LlamaConfig g = model.Config;
            Assert.Equal((true, true, true, 10000.0, 1e6, 16.0, 0.125f, true), (g.SandwichNorms, g.NormWeightOffsets, g.GeluGate, g.LocalRopeTheta, g.RopeTheta, g.EmbeddingMultiplier, g.AttentionScale, g.TieWordEmbeddings));
            Assert.Equal([0, 1, 3, 4], g.SlidingWindowLayers);
        }
        if (variant == "qwen2")
        {
            Assert.Equal([3, 4], model.Config.SlidingWindowLayers);
        }
        int vocab = model.Config.VocabSize;
        using RunState state = model.CreateState(ids.Length, allRowLogits: true);
        model.Forward(state, ids, 0, LogitsMode.All);
        float[] logits = model.ReadLogits(state, ids.Length);
        SelectedLogits.AssertMatch(c, logits, vocab, variant);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Perplexity_matches_the_reference_and_not_the_model_without_the_variant(string variant)
    {
        JsonElement golden = Golden(variant);
        JsonElement r = golden.GetProperty("perplexity");
        double expected = r.GetProperty("ppl").GetDouble();
        double without = golden.GetProperty("perplexity_without_variant").GetProperty("ppl").GetDouble();
        Assert.True(Math.Abs(without - expected) > 100 * Tolerances.PerplexityRelative * expected, $"{variant} {expected:R}, without it {without:R}");
        string dir = Write(golden);
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(dir, backend);
        PerplexityResult result = PerplexityEvaluator.Evaluate(model, Tokens(golden, dir), new PerplexityOptions(r.GetProperty("seqlen").GetInt32()));
        Assert.Equal(r.GetProperty("predicted_tokens").GetInt64(), result.PredictedTokens);
        Assert.True(Math.Abs(result.Perplexity - expected) <= Tolerances.PerplexityRelative * expected,
            $"{variant}: ppl {result.Perplexity:R}, reference {expected:R} (relative difference {Math.Abs(result.Perplexity - expected) / expected:E2})");
    }
}
