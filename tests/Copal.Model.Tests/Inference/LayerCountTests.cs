using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Weights;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>A checkpoint with another number of decoder layers than config.json says is refused, not run as another model.</summary>
public sealed class LayerCountTests : IDisposable
{
    private readonly TempDir _temp = new("copal-layers-");

    [Fact]
    public void Stories260K_with_a_config_of_four_layers_is_refused_naming_the_fifth()
    {
        TestData.CopyOfStories260K(_temp.Path);
        string config = _temp.File("config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 4", StringComparison.Ordinal));
        Assert.Equal(4, LlamaConfig.Load(_temp.Path).NumLayers);
        using var cpu = new CpuBackend(1);
        var e = Assert.Throws<ModelLoadException>(() => LlamaModel.Load(_temp.Path, cpu));
        Assert.Contains("the checkpoint has layer 4 ('model.layers.4.", e.Message, StringComparison.Ordinal);
        Assert.Contains("config.json says num_hidden_layers 4; expected 5", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A config claiming 2^31 − 1 layers over five: before the check, loading allocated an array of that many layers
    /// (an out-of-memory "bug in copal") and compacting built a set of 15 billion linear names until killed.
    /// </summary>
    [Theory]
    [InlineData(6)]
    [InlineData(int.MaxValue)]
    public void A_config_with_more_layers_than_the_files_is_refused_naming_the_last_one_before_anything_loops(int layers)
    {
        TestData.CopyOfStories260K(_temp.Path);
        string config = _temp.File("config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"num_hidden_layers\": 5", $"\"num_hidden_layers\": {layers}", StringComparison.Ordinal));
        using var cpu = new CpuBackend(1);
        string expected = $"config.json says num_hidden_layers {layers}, but the checkpoint's last layer is 4 ('model.layers.4.";
        Assert.Contains(expected, Assert.Throws<ModelLoadException>(() => LlamaModel.Load(_temp.Path, cpu)).Message, StringComparison.Ordinal);
        string output = _temp.File("compact");
        Assert.Contains(expected, Assert.Throws<ModelLoadException>(() => CheckpointCompactor.Compact(_temp.Path, output, CompactFormat.Auto, overwrite: false)).Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void A_checkpoint_without_decoder_layers_is_refused_as_such()
    {
        LlamaConfig two = LlamaConfig.Load(TestData.Stories260K) with { NumLayers = 2 };
        var e = Assert.Throws<ModelLoadException>(() => LayerCount.Require(["model.embed_tokens.weight", "lm_head.weight"], two, "m"));
        Assert.Equal("m: config.json says num_hidden_layers 2, but the checkpoint has no decoder layer (no tensor named 'model.layers.<i>.…')", e.Message);
    }

    /// <summary>
    /// Exports of a bare LlamaModel (no <c>model.</c>), of a multimodal model's language part (<c>language_model.</c>) or
    /// GPT-style names (<c>transformer.</c>) hold the layers under another prefix: the message said only what was
    /// expected, not what the files hold, so it read as a checkpoint without layers.
    /// </summary>
    [Theory]
    [InlineData("layers.0.self_attn.q_proj.weight")]
    [InlineData("language_model.model.layers.0.self_attn.q_proj.weight")]
    [InlineData("transformer.layers.0.self_attn.q_proj.weight")]
    public void Layers_under_another_prefix_are_named_with_the_expected_one(string stored)
    {
        LlamaConfig two = LlamaConfig.Load(TestData.Stories260K) with { NumLayers = 2 };
        var e = Assert.Throws<ModelLoadException>(() => LayerCount.Require(["embed_tokens.weight", stored, "norm.weight"], two, "m"));
        Assert.Equal($"m: config.json says num_hidden_layers 2, but the checkpoint has no decoder layer named 'model.layers.<i>.…': it holds '{stored}', a layer under another prefix (expected LlamaForCausalLM's names, as 'model.layers.0.self_attn.q_proj.weight')", e.Message);
    }

    [Fact]
    public void Names_outside_the_layers_and_compact_parts_are_read_right()
    {
        LlamaConfig two = LlamaConfig.Load(TestData.Stories260K) with { NumLayers = 2 };
        LayerCount.Require(["model.embed_tokens.weight", "model.layers.1.mlp.down_proj.weight.nm_values", "model.layers.x.weight", "lm_head.weight"], two, "m");
        var e = Assert.Throws<ModelLoadException>(() => LayerCount.Require(["model.layers.0.a", "model.layers.12.mlp.up_proj.weight.mask", "model.layers.3.b"], two, "m"));
        Assert.Contains("layer 12 ('model.layers.12.mlp.up_proj.weight.mask')", e.Message, StringComparison.Ordinal);
    }

    public void Dispose() => _temp.Dispose();
}
