using Copal.Model.Config;

namespace Copal.Model.Tests.Config;

/// <summary>
/// transformers 5 saves RoPE's settings as one object, rope_parameters, in place of transformers 4's top-level
/// rope_theta and rope_scaling. Read as if it were absent, a Llama 3.1 saved by transformers 5 would run with θ 10,000
/// and no llama3 scaling, and every logit would be another model's.
/// </summary>
public class RopeParametersConfigTests
{
    private const string Llama = """
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2,
         "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512, "max_position_embeddings": 512
        """;

    private const string Llama31Block =
        "{\"rope_type\": \"llama3\", \"rope_theta\": 500000.0, \"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}";

    private static LlamaConfig Parse(string fields) => LlamaConfig.Parse(Llama + fields + "}", "m/config.json");

    [Fact]
    public void A_transformers5_rope_parameters_object_gives_the_base_and_the_scaling()
    {
        LlamaConfig c = Parse(", \"rope_parameters\": " + Llama31Block);
        Assert.Equal(500000.0, c.RopeTheta);
        RopeScalingConfig s = c.RopeScaling;
        Assert.Equal((RopeScalingKind.Llama3, 8.0, 1.0, 4.0, 8192), (s.Kind, s.Factor, s.LowFreqFactor, s.HighFreqFactor, s.OriginalMaxPositionEmbeddings));

        // The same model in transformers 4's fields reads the same.
        LlamaConfig v4 = Parse(", \"rope_theta\": 500000.0, \"rope_scaling\": " + Llama31Block.Replace("\"rope_theta\": 500000.0, ", "", StringComparison.Ordinal));
        Assert.Equal((v4.RopeTheta, v4.RopeScaling.Kind, v4.RopeScaling.Factor), (c.RopeTheta, s.Kind, s.Factor));
    }

    [Theory]
    [InlineData("{\"rope_type\": \"default\", \"rope_theta\": 1000000.0}", RopeScalingKind.None, 1000000.0, 1.0)]
    [InlineData("{\"rope_theta\": 250000.0}", RopeScalingKind.None, 250000.0, 1.0)] // no rope_type: transformers 5's "default"
    [InlineData("{\"rope_type\": \"linear\", \"factor\": 4.0}", RopeScalingKind.Linear, 10000.0, 4.0)] // no base: the top level's, else 10,000
    [InlineData("{\"type\": \"linear\", \"factor\": 2.0, \"rope_theta\": 20000}", RopeScalingKind.Linear, 20000.0, 2.0)]
    [InlineData("{\"rope_type\": \"yarn\", \"factor\": 4.0, \"rope_theta\": 1000000.0, \"original_max_position_embeddings\": 128}", RopeScalingKind.Yarn, 1000000.0, 4.0)]
    public void Each_kind_is_read_from_rope_parameters(string block, RopeScalingKind kind, double theta, double factor)
    {
        LlamaConfig c = Parse(", \"rope_parameters\": " + block);
        Assert.Equal((kind, theta, factor), (c.RopeScaling.Kind, c.RopeTheta, c.RopeScaling.Factor));
    }

    [Fact]
    public void A_longrope_original_context_inside_rope_parameters_is_read()
    {
        LlamaConfig c = Parse(", \"rope_parameters\": {\"rope_type\": \"longrope\", \"rope_theta\": 10000.0, \"original_max_position_embeddings\": 128, " +
            "\"short_factor\": [1, 1, 1, 1], \"long_factor\": [2, 2, 2, 2]}");
        Assert.Equal((128, 4.0), (c.RopeScaling.OriginalMaxPositionEmbeddings, c.RopeScaling.Factor));
    }

    /// <summary>
    /// With the original context given, transformers 4 takes longrope's factor as the ratio of the contexts and
    /// transformers 5 the factor rope_parameters states; the attention factor derived from it scales cos and sin, so
    /// where the two differ the config is refused, and where they agree (or no factor is stated) it is read.
    /// </summary>
    [Theory]
    [InlineData("\"factor\": 4.0, ", null)]
    [InlineData("", null)]
    [InlineData("\"factor\": 8.0, \"attention_factor\": 1.2, ", null)]
    [InlineData("\"factor\": 8.0, ",
        "m/config.json: field 'rope_parameters.factor' is 8 but max_position_embeddings / original_max_position_embeddings is 512 / 128 = 4; transformers 4 takes the ratio for longrope and 5 the stated factor: expected them equal, or no factor")]
    public void A_longrope_factor_that_is_not_the_ratio_of_the_contexts_is_refused(string factor, string? expected)
    {
        string fields = ", \"rope_parameters\": {\"rope_type\": \"longrope\", \"original_max_position_embeddings\": 128, " + factor +
            "\"short_factor\": [1, 1, 1, 1], \"long_factor\": [2, 2, 2, 2]}";
        if (expected is null)
        {
            Assert.Equal(RopeScalingKind.LongRope, Parse(fields).RopeScaling.Kind);
        }
        else
        {
            Assert.Equal(expected, Assert.Throws<ModelConfigException>(() => Parse(fields)).Message);
        }
    }

    [Theory]
    [InlineData(", \"rope_theta\": 10000.0, \"rope_parameters\": " + Llama31Block,
        "m/config.json: field 'rope_parameters.rope_theta' is 500000 but the top-level 'rope_theta' is 10000; transformers 5 reads the first and 4 the second: expected them equal, or one of them")]
    [InlineData(", \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 2.0}, \"rope_parameters\": " + Llama31Block,
        "m/config.json: fields 'rope_scaling' (transformers 4's) and 'rope_parameters' (transformers 5's) are both set; transformers 4 reads only the first and 5 prefers it, so the second would be ignored: expected one of them")]
    [InlineData(", \"rope_parameters\": {\"full_attention\": {\"rope_type\": \"default\", \"rope_theta\": 10000.0}}",
        "m/config.json: field 'rope_parameters.full_attention' is an object: RoPE settings per layer type are not supported here; expected one object of rope_type, rope_theta and the scaling's fields")]
    [InlineData(", \"rope_parameters\": {\"rope_type\": \"default\", \"partial_rotary_factor\": 0.5}",
        "m/config.json: field 'rope_parameters.partial_rotary_factor' must be 1 on LlamaForCausalLM (only Phi3ForCausalLM turns part of each head), found 0.5")]
    [InlineData(", \"rope_parameters\": [1]", "m/config.json: field 'rope_parameters' must be an object or null, found [1]")]
    [InlineData(", \"rope_parameters\": {\"rope_type\": \"linear\"}", "m/config.json: rope_parameters type 'linear' needs field 'rope_parameters.factor' (a positive number)")]
    [InlineData(", \"rope_parameters\": {\"factor\": 8.0}",
        "m/config.json: field 'rope_parameters' names no scaling ('rope_type' is missing), so its fields say nothing; name it, e.g. \"rope_type\": \"linear\"")]
    public void Contradicting_or_unreadable_rope_parameters_are_refused_naming_the_field(string fields, string expected) =>
        Assert.Equal(expected, Assert.Throws<ModelConfigException>(() => Parse(fields)).Message);

    [Fact]
    public void Equal_bases_in_both_places_and_a_null_or_empty_rope_scaling_are_taken()
    {
        Assert.Equal(500000.0, Parse(", \"rope_theta\": 500000, \"rope_parameters\": " + Llama31Block).RopeTheta);
        Assert.Equal(RopeScalingKind.Llama3, Parse(", \"rope_scaling\": null, \"rope_parameters\": " + Llama31Block).RopeScaling.Kind);
        Assert.Equal(RopeScalingKind.Llama3, Parse(", \"rope_scaling\": {}, \"rope_parameters\": " + Llama31Block).RopeScaling.Kind);
    }
}
