using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// <c>prune --compact</c>'s free-space check counts the compact copy as <see cref="CompactProjection"/> projects it
/// before the pruning: never less than the compactor then writes (a run it lets start must not fill the disk at its
/// end), and for 2:4 exactly that. Each case prunes stories260K (F32) and compacts it.
/// </summary>
public sealed class CompactProjectionTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("copal-projection-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Theory]
    [InlineData("magnitude", "2:4", null)]
    [InlineData("magnitude", "1:2", null)]
    [InlineData("magnitude", "1:4", null)]
    [InlineData("magnitude", "3:4", null)]
    [InlineData("magnitude", "0.5", null)]
    [InlineData("magnitude", "0.7", null)]
    [InlineData("magnitude", "0.2", null)]
    [InlineData("wanda", "0.6", null)]
    [InlineData("wanda", "3:4", null)]
    [InlineData("wanda", "2:4", "1,3")]
    [InlineData("magnitude", "0.5", "0")]
    public void The_projection_bounds_what_compacting_the_pruned_model_writes(string method, string pattern, string? layers)
    {
        LlamaConfig config = LlamaConfig.Load(TestData.Stories260K);
        SparsityPattern target = SparsityPattern.Parse(pattern);
        IReadOnlySet<int>? selected = layers is null ? null : PruneOptions.ParseLayers(layers, config.NumLayers);
        string pruned = Path.Combine(_root, "pruned"), compact = Path.Combine(_root, "compact");
        var calibration = CalibrationSet.FromTokens([("ones", Enumerable.Range(0, 65).Select(i => 1 + (i * 7 % 500)).ToArray())], 2, 32, 0);
        var request = new PruneRequest(TestData.Stories260K, pruned, PrunerFactory.Create(method),
            new PruneOptions(target) { MeasureLayerError = false, Layers = selected }, calibration);
        using (var backend = new CpuBackend(threads: 1))
        {
            PruneJob.Run(request, backend);
        }
        long projected;
        using (SafetensorsCheckpoint model = SafetensorsCheckpoint.Open(pruned))
        {
            projected = CompactProjection.Bytes(model.Tensors.Select(t => new TensorSpec(t.Name, t.DType, t.Shape)).ToList(), config, target, selected);
        }
        long written;
        try
        {
            CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);
            using SafetensorsCheckpoint stored = SafetensorsCheckpoint.Open(compact);
            written = stored.Tensors.Sum(t => t.ByteLength);
        }
        catch (NothingToConvertException)
        {
            // Too few zeros for any linear to be smaller compact: the model stays dense, as projected.
            using SafetensorsCheckpoint model = SafetensorsCheckpoint.Open(pruned);
            written = model.Tensors.Sum(t => t.ByteLength);
        }
        Assert.True(projected >= written, $"{method} {pattern}: projected {projected} bytes, the compactor wrote {written}");
        if (target is SparsityPattern.NM { N: 2, M: 4 })
        {
            Assert.Equal(written, projected);
        }
        else
        {
            Assert.True(projected <= written * 1.10, $"{method} {pattern}: projected {projected} bytes, more than 10 % over the {written} written");
        }
    }
}
