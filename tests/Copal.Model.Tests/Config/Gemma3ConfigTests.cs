using System.Text.Json;
using Copal.Model.Config;

namespace Copal.Model.Tests.Config;

/// <summary>
/// Gemma3ForCausalLM's config.json (model_type gemma3_text) read with Gemma3TextConfig's defaults, the fields Copal
/// cannot run refused by name, and written back as a config transformers loads as the same Gemma 3.
/// </summary>
public sealed class Gemma3ConfigTests
{
    // google/gemma-3-1b-pt's config.json as published (no tie_word_embeddings: Gemma3TextConfig's default ties).
    private const string Gemma1B = """
        {"architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0, "attn_logit_softcapping": null,
         "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1, "final_logit_softcapping": null, "head_dim": 256,
         "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152, "initializer_range": 0.02, "intermediate_size": 6912,
         "max_position_embeddings": 32768, "model_type": "gemma3_text", "num_attention_heads": 4, "num_hidden_layers": 26,
         "num_key_value_heads": 1, "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
         "rope_scaling": null, "rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6, "torch_dtype": "bfloat16",
         "use_cache": true, "vocab_size": 262144}
        """;

    // Only what Gemma3TextConfig has no default for in Copal's reader (the shapes); everything else is its default.
    private const string Bare = """
        {"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 7, "num_attention_heads": 2,
         "num_key_value_heads": 1, "vocab_size": 300, "max_position_embeddings": 128}
        """;

    private static string With(string json, string fields) => json.TrimEnd().TrimEnd('}') + ", " + fields + "}";

    [Fact]
    public void Gemma3_1b_reads_as_gemma3textconfig_does()
    {
        LlamaConfig c = LlamaConfig.Parse(Gemma1B, "config.json");
        Assert.Equal(("Gemma3ForCausalLM", 256, 4, 1, 1e-6), (c.Architecture, c.HeadDim, c.NumHeads, c.NumKvHeads, c.RmsNormEps));
        Assert.Equal((true, true, true, true, true), (c.SandwichNorms, c.NormWeightOffsets, c.GeluGate, c.QueryKeyNorm, c.TieWordEmbeddings));
        Assert.False(c.QueryKeyNormAcrossHeads);
        Assert.False(c.PostBranchNorms);
        // Every sixth layer global: 5, 11, 17 and 23 of 26.
        Assert.Equal(512, c.SlidingWindow);
        Assert.Equal([.. Enumerable.Range(0, 26).Where(i => (i + 1) % 6 != 0)], c.SlidingWindowLayers);
        Assert.Equal((true, false, 512, 0), (c.UsesLocalRope(4), c.UsesLocalRope(5), c.AttentionWindow(4), c.AttentionWindow(5)));
        Assert.Equal((1e6, 10000.0, RopeScalingKind.None), (c.RopeTheta, c.LocalRopeTheta, c.RopeScaling.Kind));
        // query_pre_attn_scalar 256: 1/16; √1152 = 33.94 as bfloat16 is 34 (Gemma3TextScaledWordEmbedding).
        Assert.Equal((1f / 16, 34.0), (c.AttentionScale, c.EmbeddingMultiplier));
        Assert.Equal((1.0, 1.0), (c.ResidualMultiplier, c.LogitsScaling));
        Assert.Equal((2, 1), (c.BosTokenId, c.EosTokenIds.Single()));
        Assert.Contains("norms before and after each branch (1 + w), GELU-tanh gate, embeddings ×34, attention scale 0.0625, local rope θ 10000", c.ToString(), StringComparison.Ordinal);
        Assert.Contains("sliding window 512 on 22 of 26 layers", c.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Layer_types_name_the_sliding_layers_as_gemma3_270m_lists_them()
    {
        string types = string.Join(", ", Enumerable.Range(0, 7).Select(i => i is 2 or 6 ? "\"full_attention\"" : "\"sliding_attention\""));
        LlamaConfig c = LlamaConfig.Parse(With(Bare, $"\"layer_types\": [{types}], \"sliding_window_pattern\": 3"), "config.json");
        // layer_types wins over the older pattern, as in transformers.
        Assert.Equal([0, 1, 3, 4, 5], c.SlidingWindowLayers);
        // √640 = 25.30 is 25.25 in bfloat16 (gemma-3-270m), 25.297… in f32 and f16's 25.297 → 25.3125.
        Assert.Equal(25.25, LlamaConfig.GemmaEmbeddingScale(640, "bfloat16"));
        Assert.Equal((double)(float)Math.Sqrt(640), LlamaConfig.GemmaEmbeddingScale(640, "float32"));
        Assert.Equal((double)(float)(Half)(float)Math.Sqrt(640), LlamaConfig.GemmaEmbeddingScale(640, "float16"));
    }

    [Fact]
    public void Absent_fields_take_gemma3textconfig_defaults()
    {
        LlamaConfig c = LlamaConfig.Parse(Bare, "config.json");
        Assert.Equal((256, 1e6, 10000.0, 256.0, 4096, true), (c.HeadDim, c.RopeTheta, c.LocalRopeTheta, c.QueryPreAttnScalar, c.SlidingWindow, c.TieWordEmbeddings));
        Assert.Equal([0, 1, 2, 3, 4, 6], c.SlidingWindowLayers); // sliding_window_pattern 6: layer 5 global
        Assert.Equal((2, 1), (c.BosTokenId, c.EosTokenIds.Single()));
        Assert.Equal((double)(float)Math.Sqrt(64), c.EmbeddingMultiplier); // no dtype: f32
        // hidden_act is not Gemma's field (Gemma3TextConfig ignores it): a leftover "silu" changes nothing.
        Assert.True(LlamaConfig.Parse(With(Bare, "\"hidden_act\": \"silu\""), "c").GeluGate);
    }

    [Theory]
    [InlineData("\"final_logit_softcapping\": 30.0", "field 'final_logit_softcapping' must be null on Gemma3ForCausalLM (Gemma 3 has no soft-capping), found 30.0")]
    [InlineData("\"attn_logit_softcapping\": 50", "field 'attn_logit_softcapping' must be null on Gemma3ForCausalLM (Gemma 3 has no soft-capping), found 50")]
    [InlineData("\"hidden_activation\": \"gelu\"", "field 'hidden_activation' must be 'gelu_pytorch_tanh' on Gemma3ForCausalLM, found 'gelu'")]
    [InlineData("\"use_bidirectional_attention\": true", "field 'use_bidirectional_attention' must be false on Gemma3ForCausalLM (Copal attends causally), found true")]
    [InlineData("\"sliding_window\": null", "field 'sliding_window' must be a positive integer on Gemma3ForCausalLM (its sliding layers attend through it), found null")]
    [InlineData("\"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\", \"rope_theta\": 1000000}}", "field 'rope_parameters' is not read on Gemma3ForCausalLM; expected rope_theta, rope_local_base_freq and rope_scaling as transformers 4 writes them")]
    [InlineData("\"layer_types\": [\"full_attention\"]", "field 'layer_types' must name one attention type per layer (7), found 1")]
    public void What_copal_cannot_run_is_refused_by_name(string field, string expected)
    {
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(With(Bare, field), "m/config.json"));
        Assert.Equal($"m/config.json: {expected}", e.Message);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("{\"rope_type\": \"linear\", \"factor\": 8.0}")]
    public void Written_back_it_reads_as_the_same_gemma3(string? ropeScaling)
    {
        string json = ropeScaling is null ? Gemma1B : Gemma1B.Replace("\"rope_scaling\": null", $"\"rope_scaling\": {ropeScaling}", StringComparison.Ordinal);
        LlamaConfig c = LlamaConfig.Parse(json, "config.json");
        string written = LlamaConfigWriter.ToJson(c);
        LlamaConfig back = LlamaConfig.Parse(written, "written");
        Assert.Equal(c.ToString(), back.ToString());
        Assert.Equal(c.SlidingWindowLayers, back.SlidingWindowLayers);
        Assert.Equal((c.LocalRopeTheta, c.QueryPreAttnScalar, c.TorchDtype, c.RopeScaling.Kind, c.RopeScaling.Factor, c.EmbeddingMultiplier),
            (back.LocalRopeTheta, back.QueryPreAttnScalar, back.TorchDtype, back.RopeScaling.Kind, back.RopeScaling.Factor, back.EmbeddingMultiplier));

        using JsonDocument doc = JsonDocument.Parse(written);
        JsonElement o = doc.RootElement;
        Assert.Equal(("gemma3_text", "gelu_pytorch_tanh", 6), (o.GetProperty("model_type").GetString(), o.GetProperty("hidden_activation").GetString(), o.GetProperty("sliding_window_pattern").GetInt32()));
        Assert.False(o.TryGetProperty("hidden_act", out _));
        Assert.Equal(JsonValueKind.Null, o.GetProperty("final_logit_softcapping").ValueKind);
        Assert.Equal("full_attention", o.GetProperty("layer_types")[5].GetString());
    }

    [Fact]
    public void A_gemma3_without_its_local_rope_base_is_not_written()
    {
        LlamaConfig c = LlamaConfig.Parse(Gemma1B, "config.json");
        var e = Assert.Throws<ArgumentException>(() => LlamaConfigWriter.ToJson(c with { LocalRopeTheta = null }));
        Assert.Contains("cannot hold no local RoPE base (rope_local_base_freq)", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => LlamaConfigWriter.ToJson(c with { QueryKeyNorm = false }));
        Assert.Contains("attention without q/k norms (Gemma3ForCausalLM always has them)", e.Message, StringComparison.Ordinal);
    }
}
