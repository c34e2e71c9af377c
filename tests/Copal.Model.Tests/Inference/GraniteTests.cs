using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// GraniteForCausalLM is LLaMA's computation with four multipliers: the embeddings, each residual branch, the
/// attention scores (instead of 1/√head_dim) and the logits (divided). The float64 reference checks the numbers
/// (VariantReferenceTests, granite); these tests check that every path of the model applies them alike.
/// </summary>
public sealed class GraniteTests() : SyntheticModelTests("granite", Length)
{
    private const int Length = 20;

    private string Write(string name, LlamaConfig config)
    {
        string dir = Path.Combine(Temp, name);
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 13, tokenizerDirectory: null);
        return dir;
    }

    private static LlamaConfig Granite(double embedding, double residual, double attention, double logits) =>
        SyntheticPresets.Get("test-tiny") with
        {
            Architecture = "GraniteForCausalLM",
            EmbeddingMultiplier = embedding,
            ResidualMultiplier = residual,
            AttentionMultiplier = attention,
            LogitsScaling = logits,
        };

    [Fact]
    public void A_granite_with_neutral_multipliers_gives_the_llamas_logits_bit_for_bit()
    {
        // head_dim 16: an attention multiplier of 0.25 is LLaMA's 1/√16 exactly.
        using LlamaModel granite = LlamaModel.Load(Write("neutral", Granite(1, 1, 0.25, 1)), Backend);
        using LlamaModel llama = LlamaModel.Load(Write("llama", SyntheticPresets.Get("test-tiny")), Backend);
        Assert.Equal(("GraniteForCausalLM", 0.25f), (granite.Config.Architecture, granite.Config.AttentionScale));
        float[][] expected = PositionLogits.Of(llama, Prompt, 7), actual = PositionLogits.Of(granite, Prompt, 7);
        for (int p = 0; p < Length; p++)
        {
            Assert.Equal(expected[p], actual[p]);
        }
    }

    /// <summary>
    /// logits_scaling divides the logits and nothing else (4: exactly); each other multiplier changes the model, so
    /// a path that dropped one could not give the same logits.
    /// </summary>
    [Fact]
    public void Each_multiplier_takes_effect()
    {
        LlamaConfig baseline = Granite(2, 0.5, 0.125, 1);
        float[][] plain = Logits(Write("base", baseline));
        float[][] divided = Logits(Write("logits", baseline with { LogitsScaling = 4 }));
        for (int p = 0; p < Length; p++)
        {
            Assert.Equal(plain[p].Select(v => v / 4).ToArray(), divided[p]);
        }
        foreach ((string name, LlamaConfig changed) in new[]
        {
            ("embedding", baseline with { EmbeddingMultiplier = 3 }),
            ("residual", baseline with { ResidualMultiplier = 0.75 }),
            ("attention", baseline with { AttentionMultiplier = 0.5 }),
        })
        {
            Assert.NotEqual(plain[^1], Logits(Write(name, changed))[^1]);
        }
    }

    [Fact]
    public void Decode_steps_and_the_batched_step_give_the_prompt_pass_logits()
    {
        using LlamaModel model = LlamaModel.Load(Write("steps", Granite(6, 0.3, 0.1, 2.5)), Backend);
        float[][] whole = PositionLogits.Of(model, Prompt, Length);
        PositionLogits.AssertStepsMatch(model, Prompt, whole);
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_runs_a_granite_as_the_cpu_does() => RunsAsTheCpuDoes("ilgpu-cpu");

    // On a GPU too (tools/device-check.sh): its kernels run at a GPU's group sizes, which the CPU accelerator only imitates.
    [DeviceFact("cuda")]
    public void Cuda_runs_a_granite_as_the_cpu_does() => RunsAsTheCpuDoes("cuda");

    private void RunsAsTheCpuDoes(string kind)
    {
        string dir = Write("device", Granite(6, 0.3, 0.1, 2.5));
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor(kind, out _)!);
        using LlamaModel onDevice = LlamaModel.Load(dir, device);
        using LlamaModel onCpu = LlamaModel.Load(dir, Backend);
        PositionLogits.AssertAgree(onDevice, onCpu, Prompt, $"{kind} logits");
    }

    private float[][] Logits(string dir)
    {
        using LlamaModel model = LlamaModel.Load(dir, Backend);
        return PositionLogits.Of(model, Prompt, 7);
    }
}
