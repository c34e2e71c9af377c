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
/// Gemma3ForCausalLM: four norms a layer stored as offsets from 1, per-head q/k norms, a GELU-tanh gate, scaled
/// embeddings, and sliding layers with their own RoPE table beside a global one. The float64 reference checks the
/// numbers (VariantReferenceTests, gemma3); these tests check that every path takes them: decode steps, batched steps
/// over sequences at different positions, ILGPU, and the checkpoint's names.
/// </summary>
public sealed class Gemma3Tests() : SyntheticModelTests("gemma3", Length)
{
    // Longer than the sliding window, so the local layer's cache slides during the run.
    private const int Length = 20;

    /// <summary>test-tiny as a Gemma 3: layer 0 slides through 5 positions with RoPE base 10⁴, layer 1 is global with base 10⁶.</summary>
    internal static LlamaConfig Config() => SyntheticPresets.Get("test-tiny") with
    {
        Architecture = "Gemma3ForCausalLM",
        QueryKeyNorm = true,
        RmsNormEps = 1e-6,
        RopeTheta = 1e6,
        LocalRopeTheta = 10000,
        QueryPreAttnScalar = 24,
        SlidingWindow = 5,
        SlidingWindowLayers = [0],
        TieWordEmbeddings = true,
    };

    private string Write(string name = "gemma3")
    {
        string dir = Path.Combine(Temp, name);
        SyntheticModelWriter.Write(Config(), dir, DType.F32, seed: 23, tokenizerDirectory: null);
        return dir;
    }

    [Fact]
    public void The_checkpoint_has_four_norms_a_layer_stored_as_offsets_and_reads_back_as_gemma3()
    {
        string dir = Write();
        LlamaConfig c = LlamaConfig.Load(dir);
        Assert.Equal(("Gemma3ForCausalLM", true, true, true, true), (c.Architecture, c.SandwichNorms, c.NormWeightOffsets, c.GeluGate, c.TieWordEmbeddings));
        // The scale as transformers takes it: 24^−½ in double, then the f32 of the scores.
        Assert.Equal((5, 10000.0, 1e6, 8.0, (float)Math.Pow(24, -0.5)), (c.SlidingWindow, c.LocalRopeTheta, c.RopeTheta, c.EmbeddingMultiplier, c.AttentionScale));
        Assert.Equal([0], c.SlidingWindowLayers);
        using SafetensorsCheckpoint raw = SafetensorsCheckpoint.Open(dir);
        foreach (string norm in (string[])[LlamaTensorNames.InputNorm(1), LlamaTensorNames.PostAttentionNorm(1), LlamaTensorNames.PreFeedforwardNorm(1),
                     LlamaTensorNames.PostFeedforwardNorm(1), LlamaTensorNames.FinalNorm])
        {
            // Gemma's unit norm is the offset 0.
            Assert.Equal([c.HiddenSize], raw[norm].Shape);
            Assert.All(raw[norm].Bytes.ToArray(), b => Assert.Equal(0, b));
        }
        Assert.Equal([c.HeadDim], raw[LlamaTensorNames.QueryNorm(0)].Shape);
        Assert.Equal([c.HeadDim], raw[LlamaTensorNames.KeyNorm(0)].Shape);
        Assert.False(raw.TryGet(LlamaTensorNames.LmHead, out _));
    }

    /// <summary>
    /// transformers casts √hidden to the embedding's dtype, and a config that names none loads in the checkpoint's: a
    /// BF16 Gemma 3 whose config.json has no torch_dtype scales by the bfloat16 root, as one that says bfloat16.
    /// √72 is 8.485 in f32, 8.5 in bfloat16.
    /// </summary>
    [Fact]
    public void A_bf16_checkpoint_whose_config_names_no_dtype_scales_its_embeddings_by_the_bf16_root()
    {
        string dir = Path.Combine(Temp, "bf16");
        SyntheticModelWriter.Write(Config() with { HiddenSize = 72 }, dir, DType.BF16, seed: 23, tokenizerDirectory: null);
        string configPath = Path.Combine(dir, "config.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        json.Remove("torch_dtype");
        json.Remove("dtype");
        File.WriteAllText(configPath, json.ToJsonString());
        Assert.Null(LlamaConfig.Load(dir).TorchDtype);

        var reports = new List<LoadProgress>();
        using LlamaModel model = LlamaModel.Load(dir, Backend, new CallbackProgress<LoadProgress>(reports.Add));

        Assert.Equal(LlamaConfig.GemmaEmbeddingScale(72, "bfloat16"), model.Config.EmbeddingMultiplier);
        Assert.Equal(8.5, model.Config.EmbeddingMultiplier);
        // The load's config line describes the config the model runs with, not the one before the weights were read.
        Assert.Contains("embeddings ×8.5,", Assert.Single(reports, r => r.Stage == LoadStage.Config).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_steps_and_the_batched_step_give_the_prompt_pass_logits()
    {
        using LlamaModel model = LlamaModel.Load(Write(), Backend);
        Assert.Equal(4L * model.RopePositions * (model.Config.RotaryDim / 2) * sizeof(float), model.RopeTableBytes);
        float[][] whole = PositionLogits.Of(model, Prompt, Length), chunked = PositionLogits.Of(model, Prompt, 7);
        for (int p = 0; p < Length; p++)
        {
            Tolerances.AssertClose(chunked[p], whole[p], what: $"chunked logits at position {p}");
        }
        PositionLogits.AssertStepsMatch(model, Prompt, whole);
    }

    [Fact]
    public void A_batch_of_sequences_at_different_positions_gives_each_its_own_decode_logits()
    {
        using LlamaModel model = LlamaModel.Load(Write(), Backend);
        int[] other = [.. Prompt.Reverse()];
        float[][] first = PositionLogits.Of(model, Prompt, 1), second = PositionLogits.Of(model, other, 1);
        using RunState a = model.CreateState(1, Length), b = model.CreateState(1, Length);
        using RunState batch = model.CreateState(2, 2, allRowLogits: true);
        // b starts 6 positions behind a: the rows of one step sit on different RoPE rows and window positions.
        model.Forward(a, Prompt.AsSpan(0, 6), 0, LogitsMode.Last);
        int vocab = model.Config.VocabSize;
        for (int p = 6; p < Length; p++)
        {
            int q = p - 6;
            model.ForwardBatch(batch, [a, b], [Prompt[p], other[q]], [p, q]);
            float[] logits = model.ReadLogits(batch, 2);
            Tolerances.AssertClose(logits.AsSpan(0, vocab), first[p], what: $"batched row 0 at position {p}");
            Tolerances.AssertClose(logits.AsSpan(vocab, vocab), second[q], what: $"batched row 1 at position {q}");
        }
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_runs_a_gemma3_as_the_cpu_does() => RunsAsTheCpuDoes("ilgpu-cpu");

    // On a GPU too (tools/device-check.sh): its kernels run at a GPU's group sizes, which the CPU accelerator only imitates.
    [DeviceFact("cuda")]
    public void Cuda_runs_a_gemma3_as_the_cpu_does() => RunsAsTheCpuDoes("cuda");

    private void RunsAsTheCpuDoes(string kind)
    {
        string dir = Write();
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor(kind, out _)!);
        using LlamaModel onDevice = LlamaModel.Load(dir, device);
        using LlamaModel onCpu = LlamaModel.Load(dir, Backend);
        PositionLogits.AssertAgree(onDevice, onCpu, Prompt, $"{kind} logits");
        // Decode on the device too: its batched row attention reads the local table on the sliding layer.
        PositionLogits.AssertStepsMatch(onDevice, Prompt, PositionLogits.Of(onCpu, Prompt, Length), $"{kind} ");
    }
}
