using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// A tensor the config's model does not read is refused when the checkpoint opens, not dropped: the files would run
/// as another model than they hold (a bias beside attention_bias false ran without it, exit 0).
/// </summary>
public sealed class UnusedTensorsTests : IDisposable
{
    private readonly TempDir _temp = new("copal-unused-");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("model.layers.2.self_attn.q_proj.bias", 64, " (attention_bias is false)")]
    [InlineData("model.layers.0.self_attn.k_norm.weight", 8, " (only Qwen3ForCausalLM, Olmo2ForCausalLM and Gemma3ForCausalLM have q/k norms)")]
    [InlineData("model.layers.0.mlp.gate_proj.bias", 172, "")]
    [InlineData("model.vision_tower.weight", 4, "")]
    public void A_tensor_the_model_does_not_read_is_refused_by_name(string name, int length, string hint)
    {
        CopyWith(name, length);
        string expected = $"{_temp.Path}: tensor '{name}' is not read by LlamaForCausalLM as config.json describes it{hint}; " +
            "expected only the model's tensors, or the files would run as another model than they hold";
        using var cpu = new CpuBackend(1);
        Assert.Equal(expected, Assert.Throws<ModelLoadException>(() => LlamaModel.Load(_temp.Path, cpu).Dispose()).Message);
        string output = _temp.File("compact");
        Assert.Equal(expected, Assert.Throws<ModelLoadException>(() => CheckpointCompactor.Compact(_temp.Path, output, CompactFormat.Auto, overwrite: false)).Message);
        Assert.False(Directory.Exists(output));
    }

    /// <summary>transformers recomputes RoPE's inverse frequencies and ignores the buffer older exports stored.</summary>
    [Fact]
    public void A_stored_rotary_inv_freq_is_allowed()
    {
        CopyWith("model.layers.0.self_attn.rotary_emb.inv_freq", 4);
        using var cpu = new CpuBackend(1);
        using LlamaModel model = LlamaModel.Load(_temp.Path, cpu);
        Assert.Equal(5, model.Config.NumLayers);
    }

    [Fact]
    public void Several_are_counted_and_compact_parts_count_as_their_weight()
    {
        LlamaConfig config = LlamaConfig.Load(TestData.Stories260K);
        UnusedTensors.Require(["model.embed_tokens.weight", "model.layers.1.mlp.down_proj.weight.nm_values", "model.layers.1.mlp.down_proj.weight.nm_index", "lm_head.weight"], config, "m");
        var e = Assert.Throws<ModelLoadException>(() => UnusedTensors.Require(["model.layers.0.b", "model.layers.0.a", "model.layers.0.q_proj.weight.bm_mask"], config, "m"));
        Assert.StartsWith("m: tensor 'model.layers.0.a' (and 2 more tensors) is not read", e.Message, StringComparison.Ordinal);
    }

    /// <summary>stories260K in the temp folder with an all-zero F32 vector <paramref name="name"/> added.</summary>
    private void CopyWith(string name, int length)
    {
        foreach (string f in Directory.GetFiles(TestData.Stories260K).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
        {
            File.Copy(f, Path.Combine(_temp.Path, Path.GetFileName(f)));
        }
        using var source = SafetensorsCheckpoint.Open(TestData.Stories260K);
        var specs = source.Tensors.Select(t => new TensorSpec(t.Name, t.DType, t.Shape)).Append(new TensorSpec(name, DType.F32, [length])).ToList();
        using var writer = SafetensorsWriter.Create(_temp.File("model.safetensors"), specs);
        foreach (TensorView t in source.Tensors)
        {
            writer.Write(t.Name, t.Bytes);
        }
        writer.Write(name, new byte[length * sizeof(float)]);
        writer.Commit();
    }
}
