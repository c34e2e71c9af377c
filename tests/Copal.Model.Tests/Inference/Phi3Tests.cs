using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// Phi3ForCausalLM stores q/k/v as one qkv_proj and gate/up as one gate_up_proj and otherwise computes what LLaMA
/// computes (Mistral's, with a sliding window). The synthetic writer draws a Phi-3 and a LLaMA of one seed with the
/// same values, so the Phi-3 read through <see cref="ModelCheckpoint"/> must give the LLaMA's logits bit for bit.
/// </summary>
public sealed class Phi3Tests : IDisposable
{
    private const int Length = 20;
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-phi3-").FullName;
    private readonly CpuBackend _backend = new();
    private readonly int[] _prompt = [.. Enumerable.Range(0, Length).Select(i => 1 + (i * 7919 % 31000))];

    public void Dispose()
    {
        _backend.Dispose();
        Directory.Delete(_temp, recursive: true);
    }

    private string Write(string architecture, int? window = null)
    {
        string dir = Path.Combine(_temp, $"{architecture}-{window}");
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with
        {
            Architecture = architecture,
            SlidingWindow = window,
            SlidingWindowLayers = window is null ? [] : [.. Enumerable.Range(0, SyntheticPresets.Get("test-tiny").NumLayers)],
        };
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 11, tokenizerDirectory: null);
        return dir;
    }

    [Fact]
    public void The_checkpoint_stores_fused_projections_and_reads_them_as_the_separate_ones()
    {
        string phi3 = Write("Phi3ForCausalLM");
        LlamaConfig config = LlamaConfig.Load(phi3);
        Assert.True(config.FusedProjections);
        using (SafetensorsCheckpoint raw = SafetensorsCheckpoint.Open(phi3))
        {
            Assert.Equal([config.QDim + (2 * config.KvDim), config.HiddenSize], raw[LlamaTensorNames.FusedQkv(0)].Shape);
            Assert.False(raw.TryGet(LlamaTensorNames.Linear(0, LinearId.QProj), out _));
        }
        using SafetensorsCheckpoint read = ModelCheckpoint.Open(phi3);
        using SafetensorsCheckpoint llama = SafetensorsCheckpoint.Open(Write("LlamaForCausalLM"));
        Assert.Equal(llama.Tensors.Select(t => t.Name), read.Tensors.Select(t => t.Name));
        foreach (TensorView t in llama.Tensors)
        {
            Assert.Equal(t.Shape, read[t.Name].Shape);
            Assert.True(t.Bytes.SequenceEqual(read[t.Name].Bytes), t.Name);
        }
        Assert.False(read.TryGet(LlamaTensorNames.FusedGateUp(0), out _));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(6)]
    public void A_phi3_gives_the_logits_of_the_llama_or_mistral_with_its_weights_bit_for_bit(int? window)
    {
        using LlamaModel phi3 = LlamaModel.Load(Write("Phi3ForCausalLM", window), _backend);
        using LlamaModel same = LlamaModel.Load(Write(window is null ? "LlamaForCausalLM" : "MistralForCausalLM", window), _backend);
        Assert.Equal(window is null ? 0 : 6, phi3.Config.AttentionWindow(1));
        float[][] expected = PositionLogits.Of(same, _prompt, 7), actual = PositionLogits.Of(phi3, _prompt, 7);
        for (int p = 0; p < Length; p++)
        {
            Assert.Equal(expected[p], actual[p]);
        }
        // Without the window the Phi-3 would be another model: the test can tell.
        if (window is not null)
        {
            using LlamaModel unwindowed = LlamaModel.Load(Write("LlamaForCausalLM"), _backend);
            Assert.NotEqual(PositionLogits.Of(unwindowed, _prompt, 7)[^1], actual[^1]);
        }
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_runs_a_phi3_as_the_cpu_does()
    {
        string dir = Write("Phi3ForCausalLM");
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor("ilgpu-cpu", out _)!);
        using LlamaModel onDevice = LlamaModel.Load(dir, device);
        using LlamaModel onCpu = LlamaModel.Load(dir, _backend);
        float[][] expected = PositionLogits.Of(onCpu, _prompt, Length), actual = PositionLogits.Of(onDevice, _prompt, Length);
        for (int p = 0; p < Length; p++)
        {
            Tolerances.AssertClose(actual[p], expected[p], what: $"Phi-3 ilgpu-cpu logits at position {p}");
        }
    }

    [Fact]
    public void A_fused_tensor_of_the_wrong_height_is_refused_naming_it_and_both_heights()
    {
        string dir = Write("Phi3ForCausalLM");
        // Claim one more kv head than the tensors hold: qkv_proj is then 2 × head_dim rows short.
        string config = Path.Combine(dir, "config.json");
        LlamaConfig c = LlamaConfig.Load(dir);
        File.WriteAllText(config, LlamaConfigWriter.ToJson(c with { NumKvHeads = c.NumHeads }));
        var e = Assert.Throws<SafetensorsException>(() => ModelCheckpoint.Open(dir).Dispose());
        Assert.Contains($"tensor '{LlamaTensorNames.FusedQkv(0)}' should be a matrix of {3 * c.QDim} rows", e.Message, StringComparison.Ordinal);
        Assert.Contains($"found shape [{c.QDim + (2 * c.KvDim)}, {c.HiddenSize}]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_config_of_separate_projections_written_from_a_phi3_is_a_llama_or_a_mistral_with_every_other_field()
    {
        LlamaConfig plain = LlamaConfig.Load(Write("Phi3ForCausalLM"));
        string json = LlamaConfigWriter.ToJson(plain).Replace("\"hidden_act\"", "\"auto_map\": {\"AutoConfig\": \"configuration_phi3.Phi3Config\"},\n  \"resid_pdrop\": 0.0,\n  \"hidden_act\"", StringComparison.Ordinal);
        string llama = SeparateProjectionsConfig.For(plain, json)!;
        string file = Path.Combine(_temp, "converted.json");
        File.WriteAllText(file, llama);
        LlamaConfig read = LlamaConfig.LoadFile(file);
        // Compared as written: the record's lists compare by reference.
        Assert.Equal(LlamaConfigWriter.ToJson(plain with { Architecture = "LlamaForCausalLM" }), LlamaConfigWriter.ToJson(read));
        Assert.DoesNotContain("auto_map", llama, StringComparison.Ordinal);
        Assert.Contains("\"resid_pdrop\"", llama, StringComparison.Ordinal);

        LlamaConfig windowed = LlamaConfig.Load(Write("Phi3ForCausalLM", 6));
        File.WriteAllText(file, SeparateProjectionsConfig.For(windowed, LlamaConfigWriter.ToJson(windowed))!);
        Assert.Equal(LlamaConfigWriter.ToJson(windowed with { Architecture = "MistralForCausalLM" }), LlamaConfigWriter.ToJson(LlamaConfig.LoadFile(file)));
        Assert.Null(SeparateProjectionsConfig.For(LlamaConfig.Load(Write("LlamaForCausalLM")), "{}"));
    }
}
