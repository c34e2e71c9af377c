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
/// read apart, pruned one by one, and written apart under LLaMA's names with a config that says LLaMA or Mistral, since
/// Phi3ForCausalLM could not load them. Compared byte for byte with pruning the LLaMA the synthetic writer draws with
/// the same seed.
/// </summary>
public sealed class Phi3PruneTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-phi3-prune-").FullName;

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    private string Write(string architecture, int? window)
    {
        string dir = Path.Combine(_temp, $"{architecture}-{window}");
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
    public void A_pruned_phi3_is_the_pruned_llama_or_mistral_with_its_weights(string method, int? window, string written)
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
        string fromPhi3 = Prune(Write("Phi3ForCausalLM", window));
        string fromSame = Prune(Write(written, window));

        LlamaConfig config = LlamaConfig.Load(fromPhi3);
        Assert.Equal(written, config.Architecture);
        Assert.Equal(window, config.SlidingWindow);
        Assert.Equal(LlamaConfigWriter.ToJson(LlamaConfig.Load(fromSame)), LlamaConfigWriter.ToJson(config));
        using SafetensorsCheckpoint phi3 = SafetensorsCheckpoint.Open(fromPhi3);
        using SafetensorsCheckpoint same = SafetensorsCheckpoint.Open(fromSame);
        Assert.Equal(same.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), phi3.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (TensorView t in same.Tensors)
        {
            Assert.True(t.Bytes.SequenceEqual(phi3[t.Name].Bytes), t.Name);
        }
        // Really pruned: half of every 4 weights of q_proj are zeros.
        Assert.Equal(0.5, SparsityCheck.CountZeros(phi3[LlamaTensorNames.Linear(0, LinearId.QProj)]) / (double)phi3[LlamaTensorNames.Linear(0, LinearId.QProj)].ElementCount, 3);
    }
}
