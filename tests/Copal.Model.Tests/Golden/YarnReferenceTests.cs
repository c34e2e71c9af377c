using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Tensors.Kernels;
using Copal.Testing;

namespace Copal.Model.Tests.Golden;

/// <summary>
/// YaRN's RoPE tables against the independent torch reference in float32, the dtype transformers computes them in
/// (tools/reference, <c>rope-goldens</c>): each case's config.json fields go through Copal's config reader and the
/// model's mapping to the kernel's scaling, and the inverse frequencies come out bit for bit, the attention factor
/// exactly, and cos/sin within an f32 ulp (torch's and .NET's cos may round differently). The reference takes θ^(2i/d)
/// as the exact power rounded to f32, as Copal does on every path (torch 1.13's f32 pow is an ulp off at a few pairs).
/// </summary>
public class YarnReferenceTests
{
    private static JsonElement[] Cases() => [.. JsonDocument.Parse(File.ReadAllText(
        TestData.RepoPath("tests", "Copal.Model.Tests", "Golden", "rope_yarn_reference.json"))).RootElement.GetProperty("cases").EnumerateArray()];

    /// <summary>A one-head Llama config with the case's head width, RoPE fields and context.</summary>
    private static LlamaConfig Config(JsonElement golden)
    {
        JsonObject config = JsonNode.Parse(golden.GetProperty("config").GetRawText())!.AsObject();
        int headDim = config["head_dim"]!.GetValue<int>();
        config["architectures"] = new JsonArray("LlamaForCausalLM");
        config["hidden_size"] = headDim;
        config["intermediate_size"] = 16;
        config["num_hidden_layers"] = 1;
        config["num_attention_heads"] = 1;
        config["num_key_value_heads"] = 1;
        config["vocab_size"] = 8;
        return LlamaConfig.Parse(config.ToJsonString(), golden.GetProperty("name").GetString()!);
    }

    public static TheoryData<string> Names() => [.. Cases().Select(c => c.GetProperty("name").GetString()!)];

    [Theory]
    [MemberData(nameof(Names))]
    public void Yarn_tables_match_the_reference(string name)
    {
        JsonElement golden = Cases().Single(c => c.GetProperty("name").GetString() == name);
        LlamaConfig config = Config(golden);
        Assert.Equal(RopeScalingKind.Yarn, config.RopeScaling.Kind);
        Assert.Equal(golden.GetProperty("attention_factor").GetDouble(), config.RopeScaling.AttentionFactor);
        RopeScaling scaling = LlamaModel.RopeScalingOf(config.RopeScaling)!;
        int[] positions = [.. golden.GetProperty("positions").EnumerateArray().Select(p => p.GetInt32())];
        int half = config.RotaryDim / 2;
        RopeTables tables = RopeTables.Build(positions.Max() + 1, config.RotaryDim, config.RopeTheta, scaling);
        float[] expected = [.. golden.GetProperty("inv_freq").EnumerateArray().Select(v => (float)v.GetDouble())];
        Assert.Equal(expected, tables.InverseFrequencies);
        JsonElement[] cos = [.. golden.GetProperty("cos").EnumerateArray()], sin = [.. golden.GetProperty("sin").EnumerateArray()];
        for (int r = 0; r < positions.Length; r++)
        {
            int p = positions[r];
            float[] c = [.. cos[r].EnumerateArray().Select(v => (float)v.GetDouble())], s = [.. sin[r].EnumerateArray().Select(v => (float)v.GetDouble())];
            for (int i = 0; i < half; i++)
            {
                Assert.True(Math.Abs(tables.Cos[(p * half) + i] - c[i]) <= 2e-7 && Math.Abs(tables.Sin[(p * half) + i] - s[i]) <= 2e-7,
                    FormattableString.Invariant($"{name} position {p} pair {i}: cos {tables.Cos[(p * half) + i]:R} / {c[i]:R}, sin {tables.Sin[(p * half) + i]:R} / {s[i]:R}"));
            }
        }
    }

    /// <summary>
    /// A factor of 1 interpolates nothing and scales nothing: attention 1, the unscaled frequencies bit for bit
    /// outside the ramp, and within an ulp on it, where HF's blend f·(1 − w) + f·w rounds in f32 (the reference's
    /// golden shows the same one-ulp step, so a special case for 1 would leave transformers' numbers).
    /// </summary>
    [Fact]
    public void Factor_one_gives_the_unscaled_frequencies()
    {
        JsonElement golden = Cases().Single(c => c.GetProperty("name").GetString() == "factor_1");
        LlamaConfig config = Config(golden);
        Assert.Equal((1.0, 1.0), (config.RopeScaling.Factor, config.RopeScaling.AttentionFactor));
        RopeTables yarn = RopeTables.Build(300, config.RotaryDim, config.RopeTheta, LlamaModel.RopeScalingOf(config.RopeScaling));
        RopeTables plain = RopeTables.Build(300, config.RotaryDim, config.RopeTheta, null);
        // The ramp of d = 64, θ = 10⁴, L = 4096: pairs 10 (32 turns, floored) to 23 (1 turn, ceiled).
        int differing = 0;
        for (int i = 0; i < plain.InverseFrequencies.Length; i++)
        {
            float f = plain.InverseFrequencies[i], y = yarn.InverseFrequencies[i];
            Assert.True(i is > 10 and < 23 ? Math.Abs(y - f) <= Math.ScaleB(f, -23) : y == f, FormattableString.Invariant($"pair {i}: {y:R}, unscaled {f:R}"));
            differing += y == f ? 0 : 1;
        }
        Assert.InRange(differing, 0, 3);
        float[] reference = [.. golden.GetProperty("inv_freq").EnumerateArray().Select(v => (float)v.GetDouble())];
        Assert.Equal(reference, yarn.InverseFrequencies);
    }
}
