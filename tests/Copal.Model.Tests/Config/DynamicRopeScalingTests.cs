using Copal.Model.Config;

namespace Copal.Model.Tests.Config;

/// <summary>
/// Dynamic NTK scaling (rope_scaling type "dynamic": Yi, InternLM 2) changes transformers' RoPE base only for sequences
/// longer than max_position_embeddings, which no Copal run reaches: within the context its frequencies are the plain
/// ones, so the config is taken rather than refused.
/// </summary>
public class DynamicRopeScalingTests
{
    private const string Llama = """
        {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2,
         "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512, "max_position_embeddings": 512, "rope_theta": 5000000.0
        """;

    [Theory]
    [InlineData(", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}")]
    [InlineData(", \"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 1}")]
    public void Dynamic_scaling_runs_the_plain_frequencies_within_the_context(string fields)
    {
        LlamaConfig c = LlamaConfig.Parse(Llama + fields + "}", "m/config.json");
        Assert.Equal((RopeScalingKind.None, 5000000.0), (c.RopeScaling.Kind, c.RopeTheta));
    }

    [Theory]
    [InlineData(", \"rope_scaling\": {\"type\": \"dynamic\"}", "m/config.json: rope_scaling type 'dynamic' needs field 'rope_scaling.factor' (a positive number)")]
    [InlineData(", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": -2}", "m/config.json: field 'rope_scaling.factor' must be a positive finite number, found -2")]
    public void Dynamic_scaling_still_needs_a_valid_factor(string fields, string expected) =>
        Assert.Equal(expected, Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(Llama + fields + "}", "m/config.json")).Message);

    [Fact]
    public void A_phi3_refuses_dynamic_scaling_as_phi3config_does()
    {
        string phi3 = Llama.Replace("\"architectures\": [\"LlamaForCausalLM\"]", "\"model_type\": \"phi3\"", StringComparison.Ordinal);
        var e = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(phi3 + ", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}}", "m/config.json"));
        Assert.Equal("m/config.json: rope_scaling type 'dynamic' is not one Phi3ForCausalLM takes (Phi3Config accepts longrope, or its older names su and yarn)", e.Message);
    }
}
