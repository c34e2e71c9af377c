using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// Phi3ForCausalLM stores q/k/v as one qkv_proj and gate/up as one gate_up_proj and otherwise computes what LLaMA
/// computes (Mistral's, with a sliding window). The synthetic writer draws a Phi-3 and a LLaMA of one seed with the
/// same values, so the Phi-3 read through <see cref="ModelCheckpoint"/> must give the LLaMA's logits bit for bit.
/// </summary>
public sealed class Phi3Tests() : SyntheticModelTests("phi3", Length)
{
    private const int Length = 20;

    private string Write(string architecture, int? window = null)
    {
        string dir = Path.Combine(Temp, $"{architecture}-{window}");
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
        using LlamaModel phi3 = LlamaModel.Load(Write("Phi3ForCausalLM", window), Backend);
        using LlamaModel same = LlamaModel.Load(Write(window is null ? "LlamaForCausalLM" : "MistralForCausalLM", window), Backend);
        Assert.Equal(window is null ? 0 : 6, phi3.Config.AttentionWindow(1));
        float[][] expected = PositionLogits.Of(same, Prompt, 7), actual = PositionLogits.Of(phi3, Prompt, 7);
        for (int p = 0; p < Length; p++)
        {
            Assert.Equal(expected[p], actual[p]);
        }
        // Without the window the Phi-3 would be another model: the test can tell.
        if (window is not null)
        {
            using LlamaModel unwindowed = LlamaModel.Load(Write("LlamaForCausalLM"), Backend);
            Assert.NotEqual(PositionLogits.Of(unwindowed, Prompt, 7)[^1], actual[^1]);
        }
    }

    /// <summary>
    /// Phi-4-mini's kind of RoPE on the tiny shapes: 12 of each 16-wide head turned, longrope switching to the long
    /// factors at position 8 of the 20. Decode steps and the batched step give the prompt pass's logits (the tables
    /// depend on the position alone), and ILGPU's kernels the CPU's; the float64 reference checks the numbers
    /// themselves (VariantReferenceTests, phi4mini).
    /// </summary>
    [Fact]
    public void Partial_rotary_and_longrope_agree_across_the_prompt_pass_decode_steps_and_the_batched_step()
    {
        string dir = WritePhi4MiniLike();
        using LlamaModel model = LlamaModel.Load(dir, Backend);
        Assert.Equal((16, 12, RopeScalingKind.LongRope), (model.Config.HeadDim, model.Config.RotaryDim, model.Config.RopeScaling.Kind));
        float[][] whole = PositionLogits.Of(model, Prompt, Length);
        PositionLogits.AssertStepsMatch(model, Prompt, whole);
        // Turning the whole head instead is another model: the test can tell.
        LlamaConfig full = LlamaConfig.Load(dir) with { RotaryDim = 16, RopeScaling = new RopeScalingConfig(RopeScalingKind.None) };
        File.WriteAllText(Path.Combine(dir, "config.json"), LlamaConfigWriter.ToJson(full));
        using LlamaModel plain = LlamaModel.Load(dir, Backend);
        Assert.NotEqual(PositionLogits.Of(plain, Prompt, Length)[^1], whole[^1]);
    }

    private string WritePhi4MiniLike()
    {
        string dir = Path.Combine(Temp, "phi4-mini-like");
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with
        {
            Architecture = "Phi3ForCausalLM",
            RotaryDim = 12,
            RopeScaling = new RopeScalingConfig(RopeScalingKind.LongRope, OriginalMaxPositionEmbeddings: 8)
            {
                ShortFactors = [1.0, 1.1, 1.3, 1.8, 2.2, 3.0],
                LongFactors = [1.0, 1.5, 3.0, 6.0, 12.0, 20.0],
                AttentionFactor = 1.2,
            },
        };
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 12, tokenizerDirectory: null);
        return dir;
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_runs_a_phi3_as_the_cpu_does() => RunsAsTheCpuDoes("ilgpu-cpu");

    // On a GPU too (tools/device-check.sh): its kernels run at a GPU's group sizes, which the CPU accelerator only imitates.
    [DeviceFact("cuda")]
    public void Cuda_runs_a_phi3_as_the_cpu_does() => RunsAsTheCpuDoes("cuda");

    private void RunsAsTheCpuDoes(string kind)
    {
        // One backend for both models: on a GPU creating one compiles every kernel.
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor(kind, out _)!);
        foreach (string dir in new[] { Write("Phi3ForCausalLM"), WritePhi4MiniLike() })
        {
            using LlamaModel onDevice = LlamaModel.Load(dir, device);
            using LlamaModel onCpu = LlamaModel.Load(dir, Backend);
            PositionLogits.AssertAgree(onDevice, onCpu, Prompt, $"{Path.GetFileName(dir)} {kind} logits");
        }
    }

    [Fact]
    public void A_missing_projection_is_named_with_the_fused_tensor_and_rows_that_hold_it()
    {
        string dir = Write("Phi3ForCausalLM");
        LlamaConfig c = LlamaConfig.Load(dir);
        // Layer 1's qkv_proj left out, as a damaged export would lack it. (Under another name it is refused by that
        // name, as a tensor the model does not read.)
        string file = Path.Combine(dir, SafetensorsCheckpoint.SingleFileName), rewritten = file + ".rewritten";
        using (SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(dir))
        {
            TensorView[] kept = [.. source.Tensors.Where(t => t.Name != LlamaTensorNames.FusedQkv(1))];
            using SafetensorsWriter writer = SafetensorsWriter.Create(rewritten, [.. kept.Select(t => new TensorSpec(t.Name, t.DType, t.Shape))]);
            foreach (TensorView t in kept)
            {
                writer.Write(t.Name, t.Bytes);
            }
            writer.Commit();
        }
        File.Move(rewritten, file, overwrite: true);
        var e = Assert.Throws<ModelLoadException>(() => LlamaModel.Load(dir, Backend).Dispose());
        Assert.Contains($"tensor '{LlamaTensorNames.Linear(1, LinearId.QProj)}' (rows 0..{c.QDim - 1} of '{LlamaTensorNames.FusedQkv(1)}' as Phi3ForCausalLM stores it) is missing",
            e.Message, StringComparison.Ordinal);
        Assert.Equal($"'{LlamaTensorNames.Linear(0, LinearId.UpProj)}' (rows {c.IntermediateSize}..{(2 * c.IntermediateSize) - 1} of '{LlamaTensorNames.FusedGateUp(0)}' as Phi3ForCausalLM stores it)",
            ModelCheckpoint.Describe(c, LlamaTensorNames.Linear(0, LinearId.UpProj)));
        Assert.Equal($"'{LlamaTensorNames.Linear(0, LinearId.OProj)}'", ModelCheckpoint.Describe(c, LlamaTensorNames.Linear(0, LinearId.OProj)));
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
    public void The_stored_layout_fuses_the_projections_back_as_the_phi3_stores_them()
    {
        string phi3 = Write("Phi3ForCausalLM");
        LlamaConfig config = LlamaConfig.Load(phi3);
        using SafetensorsCheckpoint raw = SafetensorsCheckpoint.Open(phi3);
        using SafetensorsCheckpoint read = ModelCheckpoint.Open(phi3);
        List<WrittenTensor> written = StoredLayout.For(config, read.Tensors.Select(t => (t.Name, t.DType, t.Shape)));
        Assert.Equal(raw.Tensors.Select(t => $"{t.Name} {t.ShapeString}"), written.Select(w => $"{w.Name} [{string.Join(", ", w.Shape)}]"));
        Assert.Equal([LlamaTensorNames.Linear(1, LinearId.GateProj), LlamaTensorNames.Linear(1, LinearId.UpProj)],
            written.Single(w => w.Name == LlamaTensorNames.FusedGateUp(1)).Parts);

        // A LLaMA's tensors are written as they are; a fused tensor missing a part is refused naming it.
        LlamaConfig llama = config with { Architecture = "LlamaForCausalLM" };
        Assert.All(StoredLayout.For(llama, read.Tensors.Select(t => (t.Name, t.DType, t.Shape))), w => Assert.Equal([w.Name], w.Parts));
        var e = Assert.Throws<ArgumentException>(() => StoredLayout.For(config,
            read.Tensors.Where(t => t.Name != LlamaTensorNames.Linear(0, LinearId.VProj)).Select(t => (t.Name, t.DType, t.Shape))));
        Assert.Contains($"'{LlamaTensorNames.FusedQkv(0)}' is made of", e.Message, StringComparison.Ordinal);
        Assert.Contains($"but {LlamaTensorNames.Linear(0, LinearId.VProj)} is missing", e.Message, StringComparison.Ordinal);
    }
}
