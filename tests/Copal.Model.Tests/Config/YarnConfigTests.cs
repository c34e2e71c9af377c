using Copal.Model.Config;

namespace Copal.Model.Tests.Config;

/// <summary>rope_scaling type "yarn" read as transformers 5.x reads it (outside Phi-3, where it means longrope), and written back.</summary>
public class YarnConfigTests
{
    private const string Qwen = """
        {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 32768
        """;

    private static LlamaConfig Parse(string rest) => LlamaConfig.Parse(Qwen + rest + "}", "m/config.json");

    private static string Refused(string rest) => Assert.Throws<ModelConfigException>(() => Parse(rest)).Message;

    /// <summary>Qwen2.5's block: the given factor wins over the ratio of the contexts (1 here), betas 32 and 1, attention 0.1 ln 4 + 1.</summary>
    [Fact]
    public void Qwen25_block_reads_with_the_defaults()
    {
        RopeScalingConfig s = Parse(""", "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}""").RopeScaling;
        Assert.Equal((RopeScalingKind.Yarn, 4.0, 32768), (s.Kind, s.Factor, s.OriginalMaxPositionEmbeddings));
        Assert.Equal((32.0, 1.0, true), (s.BetaFast, s.BetaSlow, s.Truncate));
        Assert.Equal((0.1 * Math.Log(4)) + 1, s.AttentionFactor);
    }

    /// <summary>
    /// The original context: the model's when rope_scaling names none; a top-level field wins over rope_scaling's;
    /// a null factor is the ratio of the contexts; null or 0 betas are the defaults; a null truncate is false;
    /// DeepSeek's mscale pair sets the attention factor unless it is given; unknown fields are ignored.
    /// </summary>
    [Fact]
    public void Defaults_and_overrides_follow_transformers()
    {
        RopeScalingConfig s = Parse(""", "rope_scaling": {"rope_type": "yarn", "factor": 2, "unknown_field": [1]}""").RopeScaling;
        Assert.Equal((2.0, 32768), (s.Factor, s.OriginalMaxPositionEmbeddings));
        s = Parse(""", "original_max_position_embeddings": 4096, "rope_scaling": {"rope_type": "yarn", "factor": null, "original_max_position_embeddings": 1024}""").RopeScaling;
        Assert.Equal((8.0, 4096), (s.Factor, s.OriginalMaxPositionEmbeddings));
        s = Parse(""", "rope_scaling": {"rope_type": "yarn", "factor": 4, "beta_fast": 0, "beta_slow": null, "truncate": null}""").RopeScaling;
        Assert.Equal((32.0, 1.0, false), (s.BetaFast, s.BetaSlow, s.Truncate));
        s = Parse(""", "rope_scaling": {"rope_type": "yarn", "factor": 40, "mscale": 1.0, "mscale_all_dim": 0.707}""").RopeScaling;
        Assert.Equal(((0.1 * Math.Log(40)) + 1) / ((0.1 * 0.707 * Math.Log(40)) + 1), s.AttentionFactor);
        Assert.Equal(RopeScalingConfig.YarnAttentionFactor(40), Parse(""", "rope_scaling": {"rope_type": "yarn", "factor": 40, "mscale": 1.0}""").RopeScaling.AttentionFactor);
        s = Parse(""", "rope_scaling": {"rope_type": "yarn", "factor": 40, "mscale": 1.0, "mscale_all_dim": 0.707, "attention_factor": 1.25, "beta_fast": 16, "beta_slow": 2, "truncate": false}""").RopeScaling;
        Assert.Equal((1.25, 16.0, 2.0, false), (s.AttentionFactor, s.BetaFast, s.BetaSlow, s.Truncate));
        Assert.Equal(1.0, Parse(""", "rope_scaling": {"rope_type": "yarn", "factor": 1}""").RopeScaling.AttentionFactor);
    }

    /// <summary>Phi3Config maps "yarn" to longrope: there it keeps that meaning.</summary>
    [Fact]
    public void On_a_phi3_yarn_still_means_longrope()
    {
        string phi3 = Qwen.Replace("\"architectures\": [\"Qwen2ForCausalLM\"]", "\"model_type\": \"phi3\"", StringComparison.Ordinal);
        LlamaConfig c = LlamaConfig.Parse(phi3 + """, "rope_scaling": {"type": "yarn", "short_factor": [1, 1, 1, 1, 1, 1, 1, 1], "long_factor": [2, 2, 2, 2, 2, 2, 2, 2]}}""", "c");
        Assert.Equal((RopeScalingKind.LongRope, 4096), (c.RopeScaling.Kind, c.RopeScaling.OriginalMaxPositionEmbeddings));
        Assert.Equal(RopeScalingConfig.LongRopeAttentionFactor(8, 4096), c.RopeScaling.AttentionFactor);
    }

    [Theory]
    [InlineData("{\"rope_type\": \"yarn\"}", "rope_scaling type 'yarn' needs field 'rope_scaling.factor' (a number ≥ 1)")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 0.5}", "field 'rope_scaling.factor' must be ≥ 1 for yarn (the context it stretches to over the original one), found 0.5")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": \"4\"}", "field 'rope_scaling.factor' must be a number, found \"4\"")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": null, \"original_max_position_embeddings\": 65536}", "field 'rope_scaling.factor' is null, so yarn takes max_position_embeddings / original_max_position_embeddings = 32768 / 65536, which must be ≥ 1")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 4, \"beta_fast\": \"fast\"}", "field 'rope_scaling.beta_fast' must be a number, found \"fast\"")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 4, \"beta_slow\": -1}", "field 'rope_scaling.beta_slow' must be a positive number (0 or null: the default 1), found -1")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 4, \"beta_fast\": 1, \"beta_slow\": 32}", "field 'rope_scaling.beta_fast' (1) must be ≥ 'rope_scaling.beta_slow' (32) (defaults 32 and 1): the ramp runs from the pairs that turn beta_fast times to those that turn beta_slow times")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 4, \"attention_factor\": 0}", "field 'rope_scaling.attention_factor' must be a positive finite number, found 0")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 4, \"truncate\": \"no\"}", "field 'rope_scaling.truncate' must be true or false, found \"no\"")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 4, \"original_max_position_embeddings\": 0}", "field 'rope_scaling.original_max_position_embeddings' must be ≥ 1, found 0")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 4, \"mscale\": -30, \"mscale_all_dim\": 1}", "fields 'rope_scaling.mscale' (-30) and 'rope_scaling.mscale_all_dim' (1) give yarn an attention factor of -2.7742854551048; it must be a positive number within f32's range")]
    public void Bad_yarn_fields_are_refused_with_field_expectation_and_value(string ropeScaling, string expected)
    {
        Assert.Equal("m/config.json: " + expected, Refused(", \"rope_scaling\": " + ropeScaling));
    }

    /// <summary>Written by Copal (a pruned model) and read back, YaRN is the same scaling; untouched defaults stay implicit.</summary>
    [Theory]
    [InlineData("{\"type\": \"yarn\", \"factor\": 4.0, \"original_max_position_embeddings\": 32768}")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 40, \"original_max_position_embeddings\": 4096, \"mscale\": 1.0, \"mscale_all_dim\": 0.707, \"beta_fast\": 16, \"beta_slow\": 2, \"truncate\": false}")]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": null, \"original_max_position_embeddings\": 8192, \"attention_factor\": 1.5}")]
    public void Writing_and_reading_back_keeps_every_yarn_field(string ropeScaling)
    {
        LlamaConfig c = Parse(", \"attention_bias\": true, \"rope_scaling\": " + ropeScaling);
        string json = LlamaConfigWriter.ToJson(c);
        LlamaConfig back = LlamaConfig.Parse(json, "written");
        Assert.Equal(c.RopeScaling, back.RopeScaling);
        Assert.Equal((c.RopeScaling.AttentionFactor, c.RopeScaling.BetaFast, c.RopeScaling.BetaSlow, c.RopeScaling.Truncate),
            (back.RopeScaling.AttentionFactor, back.RopeScaling.BetaFast, back.RopeScaling.BetaSlow, back.RopeScaling.Truncate));
        Assert.Contains("\"rope_type\": \"yarn\"", json, StringComparison.Ordinal);
        Assert.Equal(c.RopeScaling.AttentionFactor != RopeScalingConfig.YarnAttentionFactor(c.RopeScaling.Factor), json.Contains("attention_factor", StringComparison.Ordinal));
        Assert.Equal(!c.RopeScaling.Truncate, json.Contains("truncate", StringComparison.Ordinal));
    }
}
