using System.Text.Json;
using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// The whole driver on stories260K against the float64 torch reference of the pipeline
/// (tools/reference/prune_model_reference.py, written from ALGORITHMS.md): the calibration windows, the statistics of
/// every linear's input through the layers as pruned so far, the rerun of each pruned layer, --true-sequential and
/// --layers. The golden files hold each pruned linear's mask, reconstruction error and sum of squared weights.
/// </summary>
public sealed class ReferencePipelineTests : IDisposable
{
    private readonly TempDir _temp = new("copal-pipeline-");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("stories260K.wanda_0.5.json")]
    [InlineData("stories260K.sparsegpt_0.5_true_sequential.json")]
    [InlineData("stories260K.sparsegpt_2o4_layers_1_3.json")]
    public void The_driver_prunes_as_the_reference_pipeline(string file)
    {
        JsonElement golden = GoldenCase.Read(file);
        CalibrationSet calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K),
            [TestData.Path("text", "tinystories", "calib.txt")], golden.GetProperty("nsamples").GetInt32(),
            golden.GetProperty("seqlen").GetInt32(), golden.GetProperty("seed").GetUInt64());
        // The same windows: tokenizer, seeded offsets and window bounds agree before any arithmetic does.
        Assert.Equal(golden.GetProperty("calibration_hash").GetString(), calibration.Hash);

        string? layers = golden.GetProperty("layers").GetString();
        var options = new PruneOptions(SparsityPattern.Parse(golden.GetProperty("pattern").GetString()!))
        {
            TrueSequential = golden.GetProperty("true_sequential").GetBoolean(),
            Layers = layers is null ? null : PruneOptions.ParseLayers(layers, 5),
        };
        string outDir = _temp.File("out");
        ILinearPruner pruner = PrunerFactory.Create(golden.GetProperty("method").GetString()!);
        PruneReport report;
        using (var backend = new CpuBackend())
        {
            report = PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, pruner, options, calibration), backend);
        }
        var errors = report.Layers.SelectMany(l => l.Linears).ToDictionary(l => l.Name, l => l.ReconstructionError);

        using var pruned = SafetensorsCheckpoint.Open(outDir);
        JsonElement linears = golden.GetProperty("linears");
        Assert.Equal(linears.EnumerateObject().Count(), errors.Count);
        foreach (JsonProperty linear in linears.EnumerateObject())
        {
            string name = linear.Name;
            GoldenLinear.AssertWeights(linear.Value, pruned, name, name);
            // A run that collects a Hessian reports every linear's error (a missing one was skipped unchecked); one
            // that collects none (Wanda) reports null, as json-outputs.md says, whatever the reference computed.
            double? error = errors[name];
            if (pruner.NeedsHessian)
            {
                Assert.True(error is not null, $"{name}: no reconstruction error from {pruner.Name}, which collects a Hessian");
                GoldenLinear.AssertClose(linear.Value.GetProperty("reconstruction_error").GetDouble(), error.Value, $"{name}: reconstruction error");
            }
            else
            {
                Assert.Null(error);
            }
        }
    }
}
