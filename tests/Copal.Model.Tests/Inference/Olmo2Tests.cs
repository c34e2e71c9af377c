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
/// Olmo2ForCausalLM norms each branch's output before its residual add (no input norms) and normalizes q and k
/// across all heads. The float64 reference checks the numbers (VariantReferenceTests, olmo2); these tests check that
/// every path of the model takes that placement: decode steps, the batched step, ILGPU, and the checkpoint's names.
/// </summary>
public sealed class Olmo2Tests() : SyntheticModelTests("olmo2", Length)
{
    private const int Length = 20;

    private string Write(string name = "olmo2")
    {
        string dir = Path.Combine(Temp, name);
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { Architecture = "Olmo2ForCausalLM", QueryKeyNorm = true };
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 17, tokenizerDirectory: null);
        return dir;
    }

    [Fact]
    public void The_checkpoint_has_norms_after_each_branch_and_q_k_norms_across_heads()
    {
        string dir = Write();
        LlamaConfig c = LlamaConfig.Load(dir);
        Assert.Equal(("Olmo2ForCausalLM", true, true, true, 1e-5), (c.Architecture, c.PostBranchNorms, c.QueryKeyNorm, c.QueryKeyNormAcrossHeads, c.RmsNormEps));
        Assert.Contains("q/k norm across heads, norms after each branch", c.ToString(), StringComparison.Ordinal);
        using SafetensorsCheckpoint raw = SafetensorsCheckpoint.Open(dir);
        Assert.False(raw.TryGet(LlamaTensorNames.InputNorm(0), out _));
        Assert.Equal([c.HiddenSize], raw[LlamaTensorNames.PostFeedforwardNorm(1)].Shape);
        Assert.Equal([c.QDim], raw[LlamaTensorNames.QueryNorm(0)].Shape);
        Assert.Equal([c.KvDim], raw[LlamaTensorNames.KeyNorm(0)].Shape);
    }

    [Fact]
    public void Decode_steps_and_the_batched_step_give_the_prompt_pass_logits()
    {
        using LlamaModel model = LlamaModel.Load(Write(), Backend);
        float[][] whole = PositionLogits.Of(model, Prompt, Length), chunked = PositionLogits.Of(model, Prompt, 7);
        for (int p = 0; p < Length; p++)
        {
            Tolerances.AssertClose(chunked[p], whole[p], what: $"chunked logits at position {p}");
        }
        PositionLogits.AssertStepsMatch(model, Prompt, whole);
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_runs_an_olmo2_as_the_cpu_does() => RunsAsTheCpuDoes("ilgpu-cpu");

    // On a GPU too (tools/device-check.sh): its kernels run at a GPU's group sizes, which the CPU accelerator only imitates.
    [DeviceFact("cuda")]
    public void Cuda_runs_an_olmo2_as_the_cpu_does() => RunsAsTheCpuDoes("cuda");

    private void RunsAsTheCpuDoes(string kind)
    {
        string dir = Write();
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor(kind, out _)!);
        using LlamaModel onDevice = LlamaModel.Load(dir, device);
        using LlamaModel onCpu = LlamaModel.Load(dir, Backend);
        PositionLogits.AssertAgree(onDevice, onCpu, Prompt, $"{kind} logits");
    }

    [Fact]
    public void A_missing_feedforward_norm_is_named()
    {
        string dir = Write("damaged");
        string file = Path.Combine(dir, SafetensorsCheckpoint.SingleFileName), kept = file + ".kept";
        using (SafetensorsCheckpoint source = SafetensorsCheckpoint.Open(dir))
        {
            TensorView[] tensors = [.. source.Tensors.Where(t => t.Name != LlamaTensorNames.PostFeedforwardNorm(1))];
            using SafetensorsWriter writer = SafetensorsWriter.Create(kept, [.. tensors.Select(t => new TensorSpec(t.Name, t.DType, t.Shape))]);
            foreach (TensorView t in tensors)
            {
                writer.Write(t.Name, t.Bytes);
            }
            writer.Commit();
        }
        File.Move(kept, file, overwrite: true);
        var e = Assert.Throws<ModelLoadException>(() => LlamaModel.Load(dir, Backend).Dispose());
        Assert.Contains($"'{LlamaTensorNames.PostFeedforwardNorm(1)}'", e.Message, StringComparison.Ordinal);
    }
}
