using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// Each architecture's own parts through every path a pass takes, on synthetic models the writer makes whole: Qwen2's
/// q/k/v biases, LLaMA's attention_bias (q/k/v and o_proj biases) and Qwen3's per-head q/k RMSNorm. The prompt pass, decode steps, the batched step and ILGPU's CPU
/// accelerator agree within the tolerance policy; the numbers themselves are checked against the float64 reference
/// in VariantReferenceTests.
/// </summary>
public sealed class ArchitectureTests() : SyntheticModelTests("arch", Length)
{
    private const int Length = 24;

    /// <summary>The architectures, and LLaMA with attention_bias under a name of its own.</summary>
    public static TheoryData<string> Architectures() => new("Qwen2ForCausalLM", "Qwen3ForCausalLM", LlamaWithBias);

    private const string LlamaWithBias = "LlamaForCausalLM+attention_bias";

    private string Write(string architecture)
    {
        string dir = Path.Combine(Temp, architecture);
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with
        {
            Architecture = architecture.Split('+')[0],
            AttentionBias = architecture is "Qwen2ForCausalLM" or LlamaWithBias,
            QueryKeyNorm = architecture == "Qwen3ForCausalLM",
        };
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 5, tokenizerDirectory: null);
        return dir;
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void The_written_model_loads_with_its_architectures_parts(string architecture)
    {
        using LlamaModel model = LlamaModel.Load(Write(architecture), Backend);
        Assert.Equal(architecture.Split('+')[0], model.Config.Architecture);
        foreach (DecoderLayerWeights layer in model.Weights.Layers)
        {
            Assert.Equal(architecture == "Qwen3ForCausalLM", layer.QueryKeyNorms is not null);
            Assert.Equal(architecture is "Qwen2ForCausalLM" or LlamaWithBias, layer.Biases[(int)LinearId.QProj] is not null);
            Assert.Equal(architecture == LlamaWithBias, layer.Biases[(int)LinearId.OProj] is not null);
        }
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Decode_steps_and_the_batched_step_match_the_prompt_pass(string architecture)
    {
        using LlamaModel model = LlamaModel.Load(Write(architecture), Backend);
        PositionLogits.AssertStepsMatch(model, Prompt, PositionLogits.Of(model, Prompt, Length), $"{architecture} ");
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_runs_each_architecture_as_the_cpu_does() => RunsEachArchitectureAsTheCpuDoes("ilgpu-cpu");

    // On a GPU too (tools/device-check.sh): its kernels run at a GPU's group sizes, which the CPU accelerator only imitates.
    [DeviceFact("cuda")]
    public void Cuda_runs_each_architecture_as_the_cpu_does() => RunsEachArchitectureAsTheCpuDoes("cuda");

    private void RunsEachArchitectureAsTheCpuDoes(string kind)
    {
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor(kind, out _)!);
        foreach (string architecture in (string[])["Qwen2ForCausalLM", "Qwen3ForCausalLM", LlamaWithBias])
        {
            string dir = Write(architecture);
            using LlamaModel onDevice = LlamaModel.Load(dir, device);
            using LlamaModel onCpu = LlamaModel.Load(dir, Backend);
            PositionLogits.AssertAgree(onDevice, onCpu, Prompt, $"{architecture} {kind} logits");
        }
    }
}
