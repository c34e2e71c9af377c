using System.Text.Json;
using Copal.Model.Config;
using Copal.Model.Synthetic;
using Copal.Testing;

namespace Copal.Model.Tests.Config;

public class LlamaConfigTests
{
    private const string Minimal = """
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5,
         "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512, "max_position_embeddings": 512}
        """;

    [Fact]
    public void Reads_stories260K()
    {
        LlamaConfig c = LlamaConfig.Load(TestData.Stories260K);
        Assert.Equal("LlamaForCausalLM", c.Architecture);
        Assert.Equal((64, 172, 5, 8, 4, 8, 512, 512), (c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKvHeads, c.HeadDim, c.VocabSize, c.MaxPositionEmbeddings));
        Assert.Equal(1e-5, c.RmsNormEps);
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.True(c.TieWordEmbeddings);
        Assert.False(c.AttentionBias);
        Assert.Equal(RopeScalingKind.None, c.RopeScaling.Kind);
        Assert.Equal([2], c.EosTokenIds);
    }

    [Theory]
    [InlineData("\"eos_token_id\": 512", "field 'eos_token_id' must be a token id in 0..511 (vocab_size 512), found 512")]
    [InlineData("\"eos_token_id\": [2, 9999]", "field 'eos_token_id' must be a token id in 0..511 (vocab_size 512), found 9999")]
    [InlineData("\"bos_token_id\": 600", "field 'bos_token_id' must be a token id in 0..511 (vocab_size 512), found 600")]
    public void A_special_token_outside_the_vocabulary_is_refused(string field, string expected)
    {
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.TrimEnd().TrimEnd('}') + ", " + field + "}", "m/config.json"));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    /// <summary>A list or object where a value belongs is quoted, on one line even where config.json spreads it over several.</summary>
    [Theory]
    [InlineData("\"bos_token_id\": [1, 2]", "field 'bos_token_id' must be an integer, found [1,2]")]
    [InlineData("\"rope_scaling\": [\n  \"linear\",\n  2\n]", "field 'rope_scaling' must be an object or null, found [\"linear\",2]")]
    [InlineData("\"hidden_act\": {\"name\": \"silu\", \"note\": \"a long explanation that goes on and on and on\"}",
        "field 'hidden_act' must be a string, found {\"name\":\"silu\",\"note\":\"a long explanation that goes on an...")]
    public void A_list_or_object_in_place_of_a_value_is_quoted_on_one_line(string field, string expected)
    {
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.TrimEnd().TrimEnd('}') + ", " + field + "}", "m/config.json"));
        Assert.Equal("m/config.json: " + expected, e.Message);
    }

    [Fact]
    public void Defaults_follow_hf()
    {
        LlamaConfig c = LlamaConfig.Parse(Minimal, "config.json");
        Assert.Equal(8, c.HeadDim);
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.False(c.TieWordEmbeddings);
        Assert.Null(c.TorchDtype);
    }

    [Theory]
    [InlineData("\"torch_dtype\": \"float16\"", "float16")]
    [InlineData("\"dtype\": \"bfloat16\"", "bfloat16")] // transformers 4.56 and later
    [InlineData("\"dtype\": \"bfloat16\", \"torch_dtype\": \"float32\"", "bfloat16")]
    public void The_weights_dtype_is_read_under_its_new_name_or_its_old_one(string field, string expected) =>
        Assert.Equal(expected, LlamaConfig.Parse(Minimal.TrimEnd().TrimEnd('}') + ", " + field + "}", "config.json").TorchDtype);

    [Fact]
    public void Qwen2_has_qkv_bias_and_llama3_scaling_is_read()
    {
        string json = Minimal.Replace("LlamaForCausalLM", "Qwen2ForCausalLM", StringComparison.Ordinal).Replace("\"vocab_size\": 512", "\"vocab_size\": 128256", StringComparison.Ordinal).TrimEnd().TrimEnd('}')
            + """, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}, "eos_token_id": [128001, 128009]}""";
        LlamaConfig c = LlamaConfig.Parse(json, "config.json");
        Assert.True(c.AttentionBias);
        Assert.Equal(RopeScalingKind.Llama3, c.RopeScaling.Kind);
        Assert.Equal(8.0, c.RopeScaling.Factor);
        Assert.Equal([128001, 128009], c.EosTokenIds);
    }

    [Theory]
    // Mistral: every layer, HF's 4,096 when the field is absent, none when it is null (v0.2 and later).
    [InlineData("MistralForCausalLM", "\"sliding_window\": 16", 16, "0,1,2,3,4")]
    [InlineData("MistralForCausalLM", "\"rope_theta\": 10000.0", 4096, "0,1,2,3,4")]
    [InlineData("MistralForCausalLM", "\"sliding_window\": null", null, "")]
    // Qwen2: only with use_sliding_window, from max_window_layers (HF default 28) on.
    [InlineData("Qwen2ForCausalLM", "\"sliding_window\": 16", null, "")]
    [InlineData("Qwen2ForCausalLM", "\"use_sliding_window\": true, \"sliding_window\": 16, \"max_window_layers\": 3", 16, "3,4")]
    [InlineData("Qwen2ForCausalLM", "\"use_sliding_window\": true, \"sliding_window\": 16", null, "")]
    // layer_types, as transformers writes it now, names the layers.
    [InlineData("Qwen2ForCausalLM", "\"use_sliding_window\": true, \"sliding_window\": 16, \"layer_types\": [\"sliding_attention\", \"full_attention\", \"sliding_attention\", \"full_attention\", \"full_attention\"]", 16, "0,2")]
    // LLaMA's HF class has no sliding window: the field is not applied.
    [InlineData("LlamaForCausalLM", "\"sliding_window\": 16", null, "")]
    public void The_sliding_window_and_its_layers_follow_hf(string architecture, string fields, int? window, string layers)
    {
        string json = Minimal.Replace("LlamaForCausalLM", architecture, StringComparison.Ordinal).TrimEnd().TrimEnd('}') + ", " + fields + "}";
        LlamaConfig c = LlamaConfig.Parse(json, "config.json");
        Assert.Equal(window, c.SlidingWindow);
        Assert.Equal(layers, string.Join(',', c.SlidingWindowLayers));
        Assert.Equal(Enumerable.Range(0, 5).Select(l => c.SlidingWindowLayers.Contains(l) ? window!.Value : 0), Enumerable.Range(0, 5).Select(c.AttentionWindow));
    }

    /// <summary>
    /// Reading a config holds nothing per claimed layer: a Mistral claiming 2^31 − 1 layers died of an out-of-memory
    /// "bug in copal" listing its sliding layers, before the checkpoint could be found to hold five.
    /// </summary>
    [Theory]
    [InlineData("MistralForCausalLM", "\"sliding_window\": 16", 0)]
    [InlineData("Qwen2ForCausalLM", "\"use_sliding_window\": true, \"sliding_window\": 16, \"max_window_layers\": 7", 7)]
    public void A_config_claiming_two_billion_sliding_layers_is_read_without_a_list_of_them(string architecture, string fields, int first)
    {
        string json = Minimal.Replace("LlamaForCausalLM", architecture, StringComparison.Ordinal).Replace("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 2147483647", StringComparison.Ordinal)
            .TrimEnd().TrimEnd('}') + ", " + fields + "}";
        long before = GC.GetAllocatedBytesForCurrentThread();
        LlamaConfig c = LlamaConfig.Parse(json, "config.json");
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);
        Assert.Equal(int.MaxValue - first, c.SlidingWindowLayers.Count);
        Assert.Equal((first, int.MaxValue - 1), (c.SlidingWindowLayers[0], c.SlidingWindowLayers[^1]));
        Assert.Equal((first == 0 ? 16 : 0, 16), (c.AttentionWindow(0), c.AttentionWindow(int.MaxValue - 1)));
    }

    [Theory]
    [InlineData("MistralForCausalLM")]
    [InlineData("LlamaForCausalLM")]
    public void Layer_types_is_read_only_where_hf_reads_it(string architecture)
    {
        // MistralConfig and LlamaConfig have no layer_types: a stray one neither fails the config nor picks layers.
        string json = Minimal.Replace("LlamaForCausalLM", architecture, StringComparison.Ordinal).TrimEnd().TrimEnd('}')
            + ", \"sliding_window\": 16, \"layer_types\": [\"full_attention\"]}";
        LlamaConfig c = LlamaConfig.Parse(json, "config.json");
        Assert.Equal(architecture == "MistralForCausalLM" ? "0,1,2,3,4" : "", string.Join(',', c.SlidingWindowLayers));
    }

    [Theory]
    [InlineData("LlamaForCausalLM", true, true)]
    [InlineData("Qwen3ForCausalLM", true, true)]
    [InlineData("Qwen2ForCausalLM", false, true)]     // Qwen2: q/k/v biases always, o_proj never
    [InlineData("MistralForCausalLM", false, false)]  // MistralAttention has no biases whatever the config says
    [InlineData("Phi3ForCausalLM", false, false)]     // nor has Phi3Attention
    public void Attention_bias_gives_o_proj_a_bias_where_hf_does(string architecture, bool outputBias, bool qkvBias)
    {
        string json = Minimal.Replace("LlamaForCausalLM", architecture, StringComparison.Ordinal).TrimEnd().TrimEnd('}') + ", \"attention_bias\": true}";
        LlamaConfig c = LlamaConfig.Parse(json, "config.json");
        Assert.Equal((qkvBias, outputBias), (c.AttentionBias, c.OutputProjectionBias));
    }

    [Theory]
    [InlineData("\"layer_types\": [\"full_attention\"]", "field 'layer_types' must name one attention type per layer (5), found 1")]
    [InlineData("\"layer_types\": [\"full_attention\", \"full_attention\", \"chunked_attention\", \"full_attention\", \"full_attention\"]",
        "field 'layer_types' holds 'chunked_attention'; supported: full_attention, sliding_attention")]
    [InlineData("\"sliding_window\": 0", "field 'sliding_window' must be ≥ 1, found 0")]
    public void A_sliding_window_field_that_cannot_hold_is_refused(string field, string expected)
    {
        string json = Minimal.Replace("LlamaForCausalLM", "Qwen2ForCausalLM", StringComparison.Ordinal).TrimEnd().TrimEnd('}') + ", \"use_sliding_window\": true, " + field + "}";
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(json, "m/config.json"));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Qwen3_normalizes_query_and_key_heads_and_has_no_biases_unless_asked()
    {
        // Qwen3-0.6B's shapes: head_dim 128 with 16 heads over a hidden size of 1,024.
        string json = Minimal.Replace("\"architectures\": [\"LlamaForCausalLM\"], ", "\"model_type\": \"qwen3\", ", StringComparison.Ordinal)
            .TrimEnd().TrimEnd('}') + ", \"head_dim\": 128, \"use_sliding_window\": false, \"sliding_window\": null}";
        LlamaConfig c = LlamaConfig.Parse(json, "config.json");
        Assert.Equal("Qwen3ForCausalLM", c.Architecture);
        Assert.True(c.QueryKeyNorm);
        Assert.False(c.AttentionBias);
        Assert.Equal((128, 8 * 128), (c.HeadDim, c.QDim));
        Assert.Null(c.SlidingWindow);
        Assert.Contains("q/k norm", c.ToString(), StringComparison.Ordinal);
        Assert.False(LlamaConfig.Parse(Minimal, "config.json").QueryKeyNorm);
        // Without the field, Qwen3Config's head_dim is 128, not hidden / heads.
        Assert.Equal(128, LlamaConfig.Parse(json.Replace("\"head_dim\": 128, ", "", StringComparison.Ordinal), "config.json").HeadDim);

        LlamaConfig back = LlamaConfig.Parse(LlamaConfigWriter.ToJson(c), "written");
        Assert.Equal((c.Architecture, c.QueryKeyNorm, c.AttentionBias, c.HeadDim), (back.Architecture, back.QueryKeyNorm, back.AttentionBias, back.HeadDim));
    }

    /// <summary>
    /// Phi-3 (model_type phi3): fused projections, a sliding window on every layer only where the config sets one
    /// (Phi3Config's default is none, Mistral's 4,096), RoPE over part of each head (partial_rotary_factor) and longrope.
    /// </summary>
    [Fact]
    public void Phi3_reads_its_window_as_phi3config_does()
    {
        string json = Minimal.Replace("\"architectures\": [\"LlamaForCausalLM\"], ", "\"model_type\": \"phi3\", ", StringComparison.Ordinal);
        LlamaConfig c = LlamaConfig.Parse(json, "config.json");
        Assert.Equal("Phi3ForCausalLM", c.Architecture);
        Assert.True(c.FusedProjections);
        Assert.Null(c.SlidingWindow);
        Assert.Equal(c.HeadDim, c.RotaryDim);
        Assert.Equal(1e-5, c.RmsNormEps); // Phi3Config's default, where LlamaConfig's is 1e-6
        Assert.False(LlamaConfig.Parse(Minimal, "config.json").FusedProjections);
        Assert.Equal(1e-6, LlamaConfig.Parse(Minimal, "config.json").RmsNormEps);
        LlamaConfig mini = LlamaConfig.Parse(json.TrimEnd().TrimEnd('}') + ", \"sliding_window\": 2047, \"partial_rotary_factor\": 1.0}", "config.json");
        Assert.Equal((2047, "0,1,2,3,4"), (mini.SlidingWindow, string.Join(',', mini.SlidingWindowLayers)));
    }

    /// <summary>Each class's rms_norm_eps default where the config has none: Olmo2Config's is 1e-5, as Phi3Config's; LlamaConfig's, MistralConfig's and the Qwen configs' 1e-6.</summary>
    [Theory]
    [InlineData("olmo2", 1e-5)]
    [InlineData("phi3", 1e-5)]
    [InlineData("llama", 1e-6)]
    [InlineData("mistral", 1e-6)]
    [InlineData("qwen2", 1e-6)]
    public void Rms_norm_eps_defaults_as_the_configs_class_does(string modelType, double eps)
    {
        string json = Minimal.Replace("\"architectures\": [\"LlamaForCausalLM\"], ", $"\"model_type\": \"{modelType}\", ", StringComparison.Ordinal);
        Assert.Equal(eps, LlamaConfig.Parse(json, "config.json").RmsNormEps);
    }

    /// <summary>Phi-4-mini's shapes: head_dim 128, three quarters turned, longrope over 48 pairs from 4,096 to 131,072 positions.</summary>
    [Fact]
    public void Phi3_partial_rotary_and_longrope_read_as_transformers_computes_them()
    {
        string phi4Mini = """
            {"model_type": "phi3", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 2, "num_attention_heads": 24,
             "num_key_value_heads": 8, "vocab_size": 200064, "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
             "partial_rotary_factor": 0.75, "tie_word_embeddings": true, "rope_theta": 10000.0,
             "rope_scaling": {"type": "longrope", "short_factor": [SHORT], "long_factor": [LONG]}}
            """;
        string Factors(int n, double first) => string.Join(", ", Enumerable.Range(0, n).Select(i => (first + i * 0.5).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        LlamaConfig c = LlamaConfig.Parse(phi4Mini.Replace("SHORT", Factors(48, 1), StringComparison.Ordinal).Replace("LONG", Factors(48, 2), StringComparison.Ordinal), "config.json");
        Assert.Equal((128, 96), (c.HeadDim, c.RotaryDim));
        Assert.Equal(RopeScalingKind.LongRope, c.RopeScaling.Kind);
        Assert.Equal(4096, c.RopeScaling.OriginalMaxPositionEmbeddings);
        Assert.Equal((48, 1.0, 25.5), (c.RopeScaling.ShortFactors.Count, c.RopeScaling.ShortFactors[0], c.RopeScaling.LongFactors[^1]));
        // transformers: factor = 131072 / 4096 = 32, attention factor √(1 + ln 32 / ln 4096).
        Assert.Equal(Math.Sqrt(1 + (Math.Log(32) / Math.Log(4096))), c.RopeScaling.AttentionFactor, 15);
        LlamaConfig back = LlamaConfig.Parse(LlamaConfigWriter.ToJson(c), "written");
        Assert.Equal((c.RotaryDim, c.RopeScaling.AttentionFactor), (back.RotaryDim, back.RopeScaling.AttentionFactor));
        Assert.Equal(c.RopeScaling.LongFactors, back.RopeScaling.LongFactors);

        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(
            phi4Mini.Replace("SHORT", Factors(64, 1), StringComparison.Ordinal).Replace("LONG", Factors(48, 2), StringComparison.Ordinal), "m/config.json"));
        Assert.Equal("m/config.json: rope_scaling.short_factor must hold one factor per rotated pair of a head (48), found 64", e.Message);
        string plain = Minimal.Replace("\"architectures\": [\"LlamaForCausalLM\"], ", "\"model_type\": \"phi3\", ", StringComparison.Ordinal).TrimEnd().TrimEnd('}');
        foreach ((string partial, string gives) in new[] { ("0.1", "0"), ("0.375", "3"), ("1.5", "12") })
        {
            e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(plain + ", \"partial_rotary_factor\": " + partial + "}", "m/config.json"));
            Assert.Equal($"m/config.json: partial_rotary_factor {partial} must turn an even number of a head's 8 elements, at least 2 and at most all; it gives {gives}", e.Message);
        }
    }

    /// <summary>
    /// Where the original context comes from, as transformers 4.x reads it: the top-level field; on a Phi-3 without
    /// one, Phi3Config's default 4,096 (rope_scaling's own copy is never read); elsewhere the model's context, with
    /// rope_scaling's factor. Phi3Config takes the older "yarn" and "su" for longrope.
    /// </summary>
    [Fact]
    public void Longrope_original_context_defaults_as_transformers_does()
    {
        string phi3 = Minimal.Replace("\"architectures\": [\"LlamaForCausalLM\"], ", "\"model_type\": \"phi3\", ", StringComparison.Ordinal)
            .Replace("\"max_position_embeddings\": 512", "\"max_position_embeddings\": 16384", StringComparison.Ordinal).TrimEnd().TrimEnd('}');
        Assert.Contains("16384", phi3, StringComparison.Ordinal);
        const string Lists = "\"short_factor\": [1, 1, 1, 1], \"long_factor\": [2, 2, 2, 2]";
        LlamaConfig c = LlamaConfig.Parse(phi3 + ", \"rope_scaling\": {\"type\": \"longrope\", " + Lists + ", \"original_max_position_embeddings\": 1024}}", "c");
        Assert.Equal((4096, 4.0), (c.RopeScaling.OriginalMaxPositionEmbeddings, c.RopeScaling.Factor));
        Assert.Equal(RopeScalingConfig.LongRopeAttentionFactor(4.0, 4096), c.RopeScaling.AttentionFactor);
        foreach (string legacy in new[] { "yarn", "su" })
        {
            Assert.Equal(RopeScalingKind.LongRope, LlamaConfig.Parse(phi3 + ", \"rope_scaling\": {\"type\": \"" + legacy + "\", " + Lists + "}}", "c").RopeScaling.Kind);
        }

        string llama = Minimal.TrimEnd().TrimEnd('}');
        LlamaConfig l = LlamaConfig.Parse(llama + ", \"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": 8.0, " + Lists + "}}", "c");
        Assert.Equal((512, 8.0), (l.RopeScaling.OriginalMaxPositionEmbeddings, l.RopeScaling.Factor));
        Assert.Equal(Math.Sqrt(1 + (Math.Log(8) / Math.Log(512))), l.RopeScaling.AttentionFactor, 15);
        l = LlamaConfig.Parse(llama + ", \"original_max_position_embeddings\": 64, \"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": 8.0, " + Lists + "}}", "c");
        Assert.Equal((64, 8.0), (l.RopeScaling.OriginalMaxPositionEmbeddings, l.RopeScaling.Factor));
    }

    [Theory]
    [InlineData("{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1, \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192.5}", "field 'rope_scaling.original_max_position_embeddings' must be an integer, found 8192.5")]
    [InlineData("{\"rope_type\": \"llama3\", \"factor\": \"8\"}", "field 'rope_scaling.factor' must be a number, found \"8\"")]
    [InlineData("{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": -1}", "field 'rope_scaling.low_freq_factor' must be a positive finite number, found -1")]
    [InlineData("{\"rope_type\": 3}", "field 'rope_scaling.rope_type' must be a string, found 3")]
    [InlineData("{\"rope_type\": \"longrope\", \"factor\": 2, \"short_factor\": [1, 1, 0, 1], \"long_factor\": [1, 1, 1, 1]}", "rope_scaling.short_factor[2] must be a positive number, found 0")]
    [InlineData("{\"rope_type\": \"longrope\", \"factor\": 2, \"short_factor\": [1, 1, 1, 1], \"long_factor\": [1, \"x\", 1, 1]}", "rope_scaling.long_factor[1] must be a positive number, found \"x\"")]
    [InlineData("{\"rope_type\": \"longrope\", \"factor\": 2, \"short_factor\": [1, 1, 1, 1], \"long_factor\": [1, 1, 1, 1e999]}", "rope_scaling.long_factor[3] must be a positive number, found 1e999")]
    public void Bad_rope_scaling_fields_are_named_with_their_value(string ropeScaling, string expected)
    {
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.TrimEnd().TrimEnd('}') + ", \"rope_scaling\": " + ropeScaling + "}", "m/config.json"));
        Assert.Equal("m/config.json: " + expected, e.Message);
    }

    /// <summary>Fields transformers requires, or cannot read, are refused rather than given a silent default.</summary>
    [Theory]
    [InlineData(", \"rope_scaling\": {\"factor\": 8.0, \"original_max_position_embeddings\": 8192}", "field 'rope_scaling' names no scaling ('rope_type' is missing), so its fields say nothing; name it, e.g. \"rope_type\": \"linear\"")]
    [InlineData(", \"rope_scaling\": {\"type\": null, \"rope_type\": \"linear\", \"factor\": 4}", "field 'rope_scaling' names no scaling ('type' is null), so its fields say nothing; name it, e.g. \"rope_type\": \"linear\"")]
    [InlineData(", \"rope_scaling\": {\"rope_type\": \"linear\"}", "rope_scaling type 'linear' needs field 'rope_scaling.factor' (a positive number)")]
    [InlineData(", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 1, \"high_freq_factor\": 4}", "rope_scaling type 'llama3' needs field 'rope_scaling.original_max_position_embeddings' (an integer ≥ 1)")]
    [InlineData(", \"rope_scaling\": {\"rope_type\": \"longrope\", \"short_factor\": [1, 1, 1, 1], \"long_factor\": [1, 1, 1, 1]}", "rope_scaling type 'longrope' needs 'original_max_position_embeddings', 'rope_scaling.factor' or 'rope_scaling.attention_factor'")]
    [InlineData(", \"rope_theta\": 1e300", "field 'rope_theta' must lie within f32's range (the model computes with it in f32), found 1e300")]
    [InlineData(", \"rms_norm_eps\": 1e-400", "field 'rms_norm_eps' must be a positive finite number, found 1e-400")]
    [InlineData(", \"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": 2, \"short_factor\": [1, 1e-300, 1, 1], \"long_factor\": [1, 1, 1, 1]}", "field 'rope_scaling.short_factor[1]' must lie within f32's range (the model computes with it in f32), found 1e-300")]
    [InlineData(", \"hidden_act\": 5", "field 'hidden_act' must be a string, found 5")]
    [InlineData(", \"model_type\": \"mistral\"", "architectures names LlamaForCausalLM but model_type 'mistral' is MistralForCausalLM (transformers builds the model from model_type, vLLM from architectures); make them agree")]
    [InlineData(", \"model_type\": \"gpt2\"", "architectures names LlamaForCausalLM but model_type 'gpt2' is not LLaMA-family (transformers builds the model from model_type, vLLM from architectures); make them agree")]
    [InlineData(", \"partial_rotary_factor\": 0.5", "field 'partial_rotary_factor' must be 1 on LlamaForCausalLM (only Phi3ForCausalLM turns part of each head), found 0.5")]
    public void Fields_transformers_requires_or_cannot_read_are_refused(string extra, string expected)
    {
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.TrimEnd().TrimEnd('}') + extra + "}", "m/config.json"));
        Assert.Equal("m/config.json: " + expected, e.Message);
        Assert.Equal(RopeScalingKind.None, LlamaConfig.Parse(Minimal.TrimEnd().TrimEnd('}') + ", \"rope_scaling\": {}}", "c").RopeScaling.Kind);
        Assert.Equal(8, LlamaConfig.Parse(Minimal.TrimEnd().TrimEnd('}') + ", \"partial_rotary_factor\": 1.0, \"model_type\": \"llama\"}", "c").RotaryDim);
    }

    /// <summary>
    /// transformers 4 copies 'type' over 'rope_type' where both are given, transformers 5 keeps 'rope_type': two keys
    /// naming different scalings would run two models, so they are refused naming both; keys that agree (Phi-3's su
    /// and longrope are one scaling) are read.
    /// </summary>
    [Theory]
    [InlineData("LlamaForCausalLM", "{\"type\": \"linear\", \"rope_type\": \"default\", \"factor\": 2}", "'type' is 'linear' and 'rope_type' is 'default'")]
    [InlineData("LlamaForCausalLM", "{\"rope_type\": \"dynamic\", \"type\": \"linear\", \"factor\": 2}", "'type' is 'linear' and 'rope_type' is 'dynamic'")]
    [InlineData("Phi3ForCausalLM", "{\"type\": \"longrope\", \"rope_type\": \"default\", \"short_factor\": [1, 1, 1, 1], \"long_factor\": [1, 1, 1, 1]}", "'type' is 'longrope' and 'rope_type' is 'default'")]
    public void Type_and_rope_type_naming_different_scalings_are_refused(string architecture, string ropeScaling, string names)
    {
        string config = Minimal.Replace("LlamaForCausalLM", architecture, StringComparison.Ordinal).TrimEnd().TrimEnd('}');
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(config + ", \"rope_scaling\": " + ropeScaling + "}", "m/config.json"));
        Assert.Equal("m/config.json: field 'rope_scaling' names two scalings: " + names
            + "; transformers 4 reads 'type' and 5 'rope_type', so they would run different models: expected one key, or both the same", e.Message);
    }

    /// <summary>Keys that name one scaling are read: equal ones, Phi-3's older name beside its new one, a null beside a name.</summary>
    [Fact]
    public void Type_and_rope_type_that_agree_are_read_and_a_phi3_takes_longrope_only()
    {
        string llama = Minimal.TrimEnd().TrimEnd('}');
        LlamaConfig c = LlamaConfig.Parse(llama + ", \"rope_scaling\": {\"type\": \"linear\", \"rope_type\": \"linear\", \"factor\": 2}}", "c");
        Assert.Equal((RopeScalingKind.Linear, 2.0), (c.RopeScaling.Kind, c.RopeScaling.Factor));
        string phi3Su = Minimal.Replace("LlamaForCausalLM", "Phi3ForCausalLM", StringComparison.Ordinal).TrimEnd().TrimEnd('}')
            + ", \"rope_scaling\": {\"type\": \"su\", \"rope_type\": \"longrope\", \"short_factor\": [1, 1, 1, 1], \"long_factor\": [1, 1, 1, 1]}}";
        Assert.Equal(RopeScalingKind.LongRope, LlamaConfig.Parse(phi3Su, "c").RopeScaling.Kind);
        c = LlamaConfig.Parse(llama + ", \"rope_scaling\": {\"rope_type\": null, \"type\": \"linear\", \"factor\": 4}}", "c");
        Assert.Equal((RopeScalingKind.Linear, 4.0), (c.RopeScaling.Kind, c.RopeScaling.Factor));
        string phi3 = Minimal.Replace("\"architectures\": [\"LlamaForCausalLM\"], ", "\"model_type\": \"phi3\", ", StringComparison.Ordinal).TrimEnd().TrimEnd('}');
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(phi3 + ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}}", "m/config.json"));
        Assert.Equal("m/config.json: rope_scaling type 'linear' is not one Phi3ForCausalLM takes (Phi3Config accepts longrope, or its older names su and yarn)", e.Message);
    }

    [Fact]
    public void Odd_architecture_entries_and_oversized_heads_are_named()
    {
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.Replace("[\"LlamaForCausalLM\"]", "[true]", StringComparison.Ordinal), "c"));
        Assert.Equal("c: field 'architectures' must be a list of strings, found true in the list", e.Message);
        // A bare string was taken for no list, and the model built from model_type alone.
        e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.Replace("[\"LlamaForCausalLM\"]", "\"MistralForCausalLM\", \"model_type\": \"llama\"", StringComparison.Ordinal), "c"));
        Assert.Equal("c: field 'architectures' must be a list of strings, found \"MistralForCausalLM\"", e.Message);
        e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.Replace("\"num_key_value_heads\": 4,", "\"num_key_value_heads\": 65536, \"head_dim\": 65536,", StringComparison.Ordinal)
            .Replace("\"num_attention_heads\": 8", "\"num_attention_heads\": 65536", StringComparison.Ordinal), "c"));
        Assert.Equal("c: num_attention_heads × head_dim must be at most 2147483647, found 65536 × 65536", e.Message);
    }

    [Fact]
    public void A_generation_config_that_is_not_an_object_is_named()
    {
        using var dir = new TempDir("copal-genconfig-");
        File.WriteAllText(Path.Combine(dir.Path, GenerationConfig.FileName), "[1, 2]");
        var e = Assert.Throws<ModelConfigException>(() => GenerationConfig.EosTokenIds(dir.Path, 512));
        Assert.Equal($"{Path.Combine(dir.Path, GenerationConfig.FileName)}: expected a JSON object at the top level, found array", e.Message);
    }

    /// <summary>What an architecture's config.json cannot say is refused by the writer, not written as another model.</summary>
    [Fact]
    public void The_writer_refuses_what_the_architecture_cannot_hold()
    {
        LlamaConfig llama = SyntheticPresets.Get("test-tiny");
        foreach ((LlamaConfig c, string what) in new[]
        {
            (llama with { RotaryDim = 8 }, "a rotary width (8) narrower than the head (16)"),
            (llama with { QueryKeyNorm = true }, "q/k norms"),
            (llama with { Architecture = "Qwen3ForCausalLM" }, "attention without q/k norms (Qwen3ForCausalLM always has them)"),
            (llama with { Architecture = "Qwen2ForCausalLM" }, "q/k/v without biases (Qwen2 always has them)"),
            (llama with { Architecture = "MistralForCausalLM", AttentionBias = true }, "attention biases"),
            (llama with { SlidingWindow = 8, SlidingWindowLayers = [0, 1] }, "a sliding window"),
            (llama with { Architecture = "MistralForCausalLM", SlidingWindow = 8, SlidingWindowLayers = [1] }, "a sliding window on some layers only"),
            (llama with { Architecture = "Qwen2ForCausalLM", AttentionBias = true, SlidingWindow = 8, SlidingWindowLayers = [] }, "a sliding window on no layer"),
            (llama with { LogitsScaling = 2 }, "embedding, residual, attention or logits multipliers"),
            (llama with { Architecture = "Phi3ForCausalLM", RopeScaling = new RopeScalingConfig(RopeScalingKind.Linear, 2) }, "Linear RoPE scaling (Phi3Config takes longrope only)"),
            (llama with { HeadDim = 0, RotaryDim = 8 }, "head_dim 0 with a rotary width of 8 (both even, 2 ≤ rotary ≤ head_dim)"),
        })
        {
            var e = Assert.Throws<ArgumentException>(() => LlamaConfigWriter.ToJson(c));
            Assert.StartsWith($"{c.Architecture}'s config.json cannot hold {what}; written, it would read back as another model", e.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// int(head_dim · partial_rotary_factor) is how Phi3Config and Copal read the factor; the written factor must give
    /// the width back for every even width of every head up to 512 (30 / 44 itself reads as 29).
    /// </summary>
    [Fact]
    public void Written_partial_rotary_factor_reads_back_the_same_width()
    {
        Assert.Equal(29, (int)(44 * (30.0 / 44)));
        for (int head = 2; head <= 512; head += 2)
        {
            for (int rotary = 2; rotary < head; rotary += 2)
            {
                double factor = LlamaConfigWriter.PartialRotaryFactor(rotary, head);
                Assert.True((int)(head * factor) == rotary && factor <= 1, $"{rotary} of {head}: factor {factor:R} reads as {(int)(head * factor)}");
            }
        }
    }

    /// <summary>
    /// Phi3Config of transformers 4.x refuses a longrope block with other fields than type and the two lists; the
    /// attention factor is written only where it is not the derived one, so that it is never lost.
    /// </summary>
    [Fact]
    public void Written_longrope_is_the_block_phi3config_accepts()
    {
        LlamaConfig c = SyntheticPresets.Get("test-tiny") with
        {
            Architecture = "Phi3ForCausalLM",
            RotaryDim = 8,
            MaxPositionEmbeddings = 256,
            RopeScaling = new RopeScalingConfig(RopeScalingKind.LongRope, 4.0, OriginalMaxPositionEmbeddings: 64)
            {
                ShortFactors = [1.0, 1.1, 1.3, 1.8],
                LongFactors = [1.0, 1.5, 3.0, 6.0],
                AttentionFactor = RopeScalingConfig.LongRopeAttentionFactor(4.0, 64),
            },
        };
        using (JsonDocument written = JsonDocument.Parse(LlamaConfigWriter.ToJson(c)))
        {
            JsonElement s = written.RootElement.GetProperty("rope_scaling");
            Assert.Equal("long_factor,short_factor,type", string.Join(',', s.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal)));
            Assert.Equal(64, written.RootElement.GetProperty("original_max_position_embeddings").GetInt32());
        }
        Assert.Equal(c.RopeScaling.AttentionFactor, LlamaConfig.Parse(LlamaConfigWriter.ToJson(c), "w").RopeScaling.AttentionFactor);
        LlamaConfig own = c with { RopeScaling = c.RopeScaling with { AttentionFactor = 1.25 } };
        LlamaConfig back = LlamaConfig.Parse(LlamaConfigWriter.ToJson(own), "w");
        Assert.Equal((1.25, 64, 4.0), (back.RopeScaling.AttentionFactor, back.RopeScaling.OriginalMaxPositionEmbeddings, back.RopeScaling.Factor));
    }

    /// <summary>
    /// Granite-3.1-2B's multipliers; GraniteConfig's defaults are 1.0 for all four (the attention one too, so q·k goes
    /// unscaled); the other classes ignore the fields, as their HF classes do.
    /// </summary>
    [Fact]
    public void Granite_reads_its_multipliers_as_graniteconfig_does()
    {
        string granite = Minimal.Replace("\"architectures\": [\"LlamaForCausalLM\"], ", "\"model_type\": \"granite\", ", StringComparison.Ordinal).TrimEnd().TrimEnd('}');
        const string Multipliers = ", \"embedding_multiplier\": 12.0, \"residual_multiplier\": 0.22, \"attention_multiplier\": 0.015625, \"logits_scaling\": 8.0}";
        LlamaConfig c = LlamaConfig.Parse(granite + Multipliers, "c");
        Assert.Equal(("GraniteForCausalLM", 12.0, 0.22, 0.015625, 8.0), (c.Architecture, c.EmbeddingMultiplier, c.ResidualMultiplier, c.AttentionMultiplier, c.LogitsScaling));
        Assert.Equal(0.015625f, c.AttentionScale);
        Assert.Contains("multipliers: embedding 12, residual 0.22, attention 0.015625, logits ÷8", c.ToString(), StringComparison.Ordinal);
        LlamaConfig back = LlamaConfig.Parse(LlamaConfigWriter.ToJson(c), "written");
        Assert.Equal((c.Architecture, c.EmbeddingMultiplier, c.ResidualMultiplier, c.AttentionMultiplier, c.LogitsScaling),
            (back.Architecture, back.EmbeddingMultiplier, back.ResidualMultiplier, back.AttentionMultiplier, back.LogitsScaling));

        LlamaConfig defaults = LlamaConfig.Parse(granite + "}", "c");
        Assert.Equal((1.0, 1.0, 1.0, 1.0, 1f), (defaults.EmbeddingMultiplier, defaults.ResidualMultiplier, defaults.AttentionMultiplier, defaults.LogitsScaling, defaults.AttentionScale));
        LlamaConfig llama = LlamaConfig.Parse(Minimal.TrimEnd().TrimEnd('}') + Multipliers, "c");
        Assert.False(llama.HasMultipliers);
        Assert.Equal(1f / MathF.Sqrt(8), llama.AttentionScale);
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(granite + ", \"logits_scaling\": 0}", "m/config.json"));
        Assert.Equal("m/config.json: field 'logits_scaling' must be a positive finite number, found 0", e.Message);
    }

    [Theory]
    [InlineData("GPT2LMHeadModel", "architecture 'GPT2LMHeadModel' is not supported; supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, GraniteForCausalLM, Olmo2ForCausalLM, Gemma3ForCausalLM")]
    public void Unknown_architecture_lists_the_supported_ones(string arch, string expected)
    {
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.Replace("LlamaForCausalLM", arch, StringComparison.Ordinal), "m/config.json"));
        Assert.Equal($"m/config.json: {expected}", e.Message);
    }

    [Theory]
    [InlineData("\"hidden_size\": 64,", "missing required field 'hidden_size'")]
    [InlineData("\"num_key_value_heads\": 4,", null)]
    [InlineData("\"vocab_size\": 512,", "missing required field 'vocab_size'")]
    public void Missing_fields_are_named(string remove, string? expected)
    {
        string json = Minimal.Replace(remove, "", StringComparison.Ordinal);
        if (expected is null)
        {
            Assert.Equal(8, LlamaConfig.Parse(json, "c").NumKvHeads); // optional: defaults to the head count
            return;
        }
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(json, "c"));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_values_name_field_and_value()
    {
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.Replace("\"num_key_value_heads\": 4", "\"num_key_value_heads\": 3", StringComparison.Ordinal), "c"));
        Assert.Contains("num_attention_heads (8) must be a multiple of num_key_value_heads (3)", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.Replace("\"hidden_size\": 64", "\"hidden_size\": \"64\"", StringComparison.Ordinal), "c"));
        Assert.Contains("field 'hidden_size' must be an integer, found \"64\"", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.Replace("\"hidden_size\": 64", "\"hidden_size\": 99999999999", StringComparison.Ordinal), "c"));
        Assert.Contains("field 'hidden_size' must be an integer from 1 to 2147483647, found 99999999999", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse("{not json", "c"));
        Assert.Contains("is not valid JSON", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Minimal.TrimEnd().TrimEnd('}') + ", \"rope_scaling\": {\"rope_type\": \"proportional\", \"factor\": 4}}", "c"));
        Assert.Contains("rope_scaling type 'proportional' is not supported; supported: default, linear, dynamic, llama3, longrope, yarn", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_is_named()
    {
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Load(Path.Combine(Path.GetTempPath(), $"no-such-model-folder-{Guid.NewGuid():N}")));
        Assert.Contains("config.json: file not found", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A config.json or generation_config.json that is a link to nothing is said to be missing: it read "cannot be
    /// read: the file system there does not allow it", the reason a write is given, untrue for a read.
    /// </summary>
    [LinuxFact]
    public void A_config_that_links_to_nothing_is_said_to_be_missing()
    {
        using var dir = new TempDir("copal-dangling-config-");
        string config = dir.File("config.json");
        File.CreateSymbolicLink(config, dir.File("absent.json"));
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Load(dir.Path));
        Assert.Equal($"{config}: cannot be read: {Copal.Tensors.IO.ReadFailure.Missing}", e.Message);

        string generation = Path.Combine(dir.Path, GenerationConfig.FileName);
        File.CreateSymbolicLink(generation, dir.File("absent.json"));
        e = Assert.Throws<ModelConfigException>(() => GenerationConfig.EosTokenIds(dir.Path, 512));
        Assert.Equal($"{generation}: cannot be read: {Copal.Tensors.IO.ReadFailure.Missing}", e.Message);
    }

    [Fact]
    public void Written_config_reads_back_equal()
    {
        LlamaConfig c = LlamaConfig.Load(TestData.Stories260K);
        LlamaConfig back = LlamaConfig.Parse(LlamaConfigWriter.ToJson(c), "written");
        Assert.Equal(c with { EosTokenIds = [] }, back with { EosTokenIds = [] });
        Assert.Equal(c.EosTokenIds, back.EosTokenIds);
    }

    [Theory]
    [InlineData("MistralForCausalLM", null, "")]
    [InlineData("MistralForCausalLM", 16, "0,1,2,3,4")]
    [InlineData("Qwen2ForCausalLM", null, "")]
    [InlineData("Qwen2ForCausalLM", 16, "1,4")]
    [InlineData("Qwen3ForCausalLM", 16, "3,4")]
    [InlineData("Phi3ForCausalLM", null, "")]
    [InlineData("Phi3ForCausalLM", 16, "0,1,2,3,4")]
    public void A_written_sliding_window_reads_back_on_the_same_layers(string architecture, int? window, string layers)
    {
        LlamaConfig c = LlamaConfig.Parse(Minimal, "config.json") with
        {
            Architecture = architecture,
            AttentionBias = architecture == "Qwen2ForCausalLM",
            QueryKeyNorm = architecture == "Qwen3ForCausalLM",
            SlidingWindow = window,
            SlidingWindowLayers = [.. layers.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse)],
        };
        string written = LlamaConfigWriter.ToJson(c);
        LlamaConfig back = LlamaConfig.Parse(written, "written");
        Assert.Equal(window, back.SlidingWindow);
        Assert.Equal(layers, string.Join(',', back.SlidingWindowLayers));
        // The last layers sliding are also said as max_window_layers, which transformers before layer_types read.
        Assert.Equal(layers == "3,4", written.Contains("\"max_window_layers\": 3", StringComparison.Ordinal));
    }
}
