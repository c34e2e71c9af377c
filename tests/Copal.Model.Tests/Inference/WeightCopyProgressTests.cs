using Copal.Model.Inference;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// Copying the weights into memory (or uploading them to a device) is seconds per GB, and the load said nothing from
/// its weights line to its end: it now reports each quarter of the layers, typed (a front end tells them by their
/// stage, not their text), and a token cancelled at a report stops it before the next tensor. stories260K has 5 layers.
/// </summary>
public sealed class WeightCopyProgressTests
{
    private static bool IsLayers(LoadProgress p) => p.Stage is LoadStage.LayersCopied or LoadStage.LayersUploaded;

    [Fact]
    public void A_copying_load_reports_each_quarter_of_the_layers()
    {
        using var cpu = new CpuBackend(1);
        var reports = new List<LoadProgress>();

        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, cpu, SparseLoadMode.Off, new CallbackProgress<LoadProgress>(reports.Add), residence: WeightResidence.Memory);

        Assert.Equal([2, 3, 4, 5], reports.Where(IsLayers).Select(p => p.LayersDone));
        Assert.All(reports.Where(IsLayers), p => Assert.Equal((LoadStage.LayersCopied, 5, ""), (p.Stage, p.Layers, p.Detail)));
        // The stages before the copy, each once, with what it describes.
        Assert.Equal([LoadStage.Config, LoadStage.Weights], reports.Where(p => !IsLayers(p)).Select(p => p.Stage));
        Assert.StartsWith("LlamaForCausalLM: 5 layers", reports[0].Detail, StringComparison.Ordinal);
        Assert.EndsWith(" tensors in 1 file, copied into memory in the kernels' layout, on cpu", reports[1].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_mapped_load_copies_nothing_and_reports_no_layers()
    {
        using var cpu = new CpuBackend(1);
        var reports = new List<LoadProgress>();

        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, cpu, SparseLoadMode.Off, new CallbackProgress<LoadProgress>(reports.Add), residence: WeightResidence.Mapped);

        Assert.DoesNotContain(reports, IsLayers);
    }

    [Fact]
    public void A_token_cancelled_at_the_first_quarter_stops_the_copy_there()
    {
        using var cpu = new CpuBackend(1);
        using var cts = new CancellationTokenSource();
        var reports = new List<LoadProgress>();
        var progress = new CallbackProgress<LoadProgress>(r =>
        {
            reports.Add(r);
            if (IsLayers(r))
            {
                cts.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() =>
            LlamaModel.Load(TestData.Stories260K, cpu, SparseLoadMode.Off, progress, residence: WeightResidence.Memory, cancellationToken: cts.Token));

        Assert.Equal(2, reports[^1].LayersDone);
        Assert.Single(reports, IsLayers);
    }
}
