using Copal.Model.Config;
using Copal.Model.Synthetic;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// A Phi-3 prunes as the LLaMA (or, with a sliding window, the Mistral) with its weights: its fused projections are
/// read apart, pruned one by one, and written back fused, so the output is a Phi-3 that Hugging Face loads. Read
/// apart again, its bytes are those of pruning the LLaMA the synthetic writer draws with the same seed. Compacted and
/// densified, it comes back byte for byte.
/// </summary>
public sealed class Phi3PruneTests : IDisposable
{
    private readonly TempDir _temp = new("copal-phi3-prune-");

    public void Dispose() => _temp.Dispose();

    private string Write(string architecture, int? window)
    {
        string dir = _temp.File($"{architecture}-{window}");
        LlamaConfig tiny = SyntheticPresets.Get("test-tiny");
        SyntheticModelWriter.Write(tiny with
        {
            Architecture = architecture,
            SlidingWindow = window,
            SlidingWindowLayers = window is null ? [] : [.. Enumerable.Range(0, tiny.NumLayers)],
        }, dir, DType.F32, seed: 4, tokenizerDirectory: null);
        return dir;
    }

    [Theory]
    [InlineData("sparsegpt", null, "LlamaForCausalLM")]
    [InlineData("wanda", 8, "MistralForCausalLM")]
    [InlineData("copal", null, "LlamaForCausalLM")]
    public void A_pruned_phi3_is_a_phi3_with_the_weights_of_the_pruned_llama_or_mistral(string method, int? window, string same)
    {
        var calibration = CalibrationSet.FromTokens([("text", [.. Enumerable.Range(0, 129).Select(i => 1 + (i * 7919 % 31000))])], 4, 32, 0);
        var pattern = new SparsityPattern.NM(2, 4);
        using var backend = new CpuBackend(threads: 1);
        string Prune(string model)
        {
            string outDir = model + "-pruned";
            ILinearPruner pruner = method == "copal"
                ? new CopalPruner(CopalRun.StartOrResume(model, null, new CopalOptionChoices(), pattern))
                : PrunerFactory.Create(method);
            PruneJob.Run(new PruneRequest(model, outDir, pruner, new PruneOptions(pattern), calibration), backend);
            return outDir;
        }
        string phi3Model = Write("Phi3ForCausalLM", window);
        string fromPhi3 = Prune(phi3Model);
        string fromSame = Prune(Write(same, window));

        // Stored as the input: the config unchanged, q/k/v and gate/up fused.
        Assert.Equal(File.ReadAllText(Path.Combine(phi3Model, "config.json")), File.ReadAllText(Path.Combine(fromPhi3, "config.json")));
        using (SafetensorsCheckpoint raw = SafetensorsCheckpoint.Open(fromPhi3))
        using (SafetensorsCheckpoint input = SafetensorsCheckpoint.Open(phi3Model))
        {
            // (The pruned file holds each layer's tensors together, the others after them.)
            Assert.Equal(input.Tensors.Select(t => t.ToString()).Order(StringComparer.Ordinal), raw.Tensors.Select(t => t.ToString()).Order(StringComparer.Ordinal));
        }
        using SafetensorsCheckpoint phi3 = ModelCheckpoint.Open(fromPhi3);
        using SafetensorsCheckpoint llama = SafetensorsCheckpoint.Open(fromSame);
        Assert.Equal(llama.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), phi3.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (TensorView t in llama.Tensors)
        {
            Assert.True(t.Bytes.SequenceEqual(phi3[t.Name].Bytes), t.Name);
        }
        // Really pruned: half of every 4 weights of q_proj are zeros.
        TensorView q = phi3[LlamaTensorNames.Linear(0, LinearId.QProj)];
        Assert.Equal(0.5, SparsityCheck.CountZeros(q) / (double)q.ElementCount, 3);

        // Compact storage keeps the projections apart (Copal's own format); densified, the Phi-3 is back, byte for byte.
        string compact = fromPhi3 + "-compact", dense = fromPhi3 + "-dense";
        CheckpointCompactor.Compact(fromPhi3, compact, CompactFormat.Auto, overwrite: false);
        CheckpointCompactor.Densify(compact, dense, overwrite: false);
        Assert.Equal(File.ReadAllBytes(Path.Combine(fromPhi3, "model.safetensors")).Length, File.ReadAllBytes(Path.Combine(dense, "model.safetensors")).Length);
        using SafetensorsCheckpoint back = SafetensorsCheckpoint.Open(dense);
        using SafetensorsCheckpoint pruned = SafetensorsCheckpoint.Open(fromPhi3);
        foreach (TensorView t in pruned.Tensors)
        {
            Assert.True(t.Bytes.SequenceEqual(back[t.Name].Bytes), t.Name);
        }
    }
}
