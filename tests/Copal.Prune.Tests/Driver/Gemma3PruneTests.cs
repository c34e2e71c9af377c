using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// A pruned Gemma 3 is written back as a Gemma 3: the same config.json, the same tensors, the norms as stored
/// (offsets from 1, not the 1 + w the model computes with), the linears pruned; and it loads and runs as a Gemma 3.
/// </summary>
public sealed class Gemma3PruneTests : IDisposable
{
    private readonly TempDir _temp = new("copal-gemma3-prune-");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("wanda")]
    [InlineData("sparsegpt")]
    public void A_pruned_gemma3_loads_as_a_gemma3_with_its_norms_as_stored(string method)
    {
        string model = _temp.File("gemma3"), outDir = _temp.File($"gemma3-{method}");
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with
        {
            Architecture = "Gemma3ForCausalLM",
            QueryKeyNorm = true,
            RopeTheta = 1e6,
            LocalRopeTheta = 10000,
            SlidingWindow = 8,
            SlidingWindowLayers = [0],
            TieWordEmbeddings = true,
        };
        SyntheticModelWriter.Write(config, model, DType.F32, seed: 5, tokenizerDirectory: null);
        var calibration = CalibrationSet.FromTokens([("text", [.. Enumerable.Range(0, 129).Select(i => 1 + (i * 7919 % 31000))])], 4, 32, 0);
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(new PruneRequest(model, outDir, PrunerFactory.Create(method), new PruneOptions(new SparsityPattern.NM(2, 4)), calibration), backend);

        Assert.Equal(File.ReadAllText(Path.Combine(model, "config.json")), File.ReadAllText(Path.Combine(outDir, "config.json")));
        LlamaConfig back = LlamaConfig.Load(outDir);
        Assert.Equal(("Gemma3ForCausalLM", true, 10000.0, 8), (back.Architecture, back.SandwichNorms, back.LocalRopeTheta, back.SlidingWindow));
        using (SafetensorsCheckpoint pruned = SafetensorsCheckpoint.Open(outDir))
        using (SafetensorsCheckpoint input = SafetensorsCheckpoint.Open(model))
        {
            Assert.Equal(input.Tensors.Select(t => t.ToString()).Order(StringComparer.Ordinal), pruned.Tensors.Select(t => t.ToString()).Order(StringComparer.Ordinal));
            foreach (string norm in (string[])[LlamaTensorNames.PreFeedforwardNorm(0), LlamaTensorNames.PostFeedforwardNorm(1), LlamaTensorNames.QueryNorm(1), LlamaTensorNames.FinalNorm])
            {
                Assert.True(input[norm].Bytes.SequenceEqual(pruned[norm].Bytes), norm);
            }
            TensorView down = pruned[LlamaTensorNames.Linear(1, LinearId.DownProj)];
            Assert.Equal(0.5, SparsityCheck.CountZeros(down) / (double)down.ElementCount, 3);
        }
        using LlamaModel loaded = LlamaModel.Load(outDir, backend);
        using RunState state = loaded.CreateState(16);
        loaded.Forward(state, [.. Enumerable.Range(0, 16).Select(i => 3 + (i * 37))], 0, LogitsMode.Last);
        Assert.All(loaded.ReadLogits(state), v => Assert.True(float.IsFinite(v)));
    }
}
