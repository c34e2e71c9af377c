using Copal.Model.Inference;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// Copying the weights into memory (or uploading them to a device) is seconds per GB, and the load said nothing from
/// its weights line to its end: it now reports each quarter of the layers, and a token cancelled at a report stops it
/// before the next tensor. stories260K has 5 layers.
/// </summary>
public sealed class WeightCopyProgressTests
{
    private static bool IsLayers(string message) => message.EndsWith(" layers copied", StringComparison.Ordinal);

    [Fact]
    public void A_copying_load_reports_each_quarter_of_the_layers()
    {
        using var cpu = new CpuBackend(1);
        var reports = new List<string>();

        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, cpu, SparseLoadMode.Off, new CallbackProgress<string>(reports.Add), residence: WeightResidence.Memory);

        Assert.Equal(["weights: 2 of 5 layers copied", "weights: 3 of 5 layers copied", "weights: 4 of 5 layers copied", "weights: 5 of 5 layers copied"],
            reports.Where(IsLayers));
    }

    [Fact]
    public void A_mapped_load_copies_nothing_and_reports_no_layers()
    {
        using var cpu = new CpuBackend(1);
        var reports = new List<string>();

        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, cpu, SparseLoadMode.Off, new CallbackProgress<string>(reports.Add), residence: WeightResidence.Mapped);

        Assert.DoesNotContain(reports, IsLayers);
    }

    [Fact]
    public void A_token_cancelled_at_the_first_quarter_stops_the_copy_there()
    {
        using var cpu = new CpuBackend(1);
        using var cts = new CancellationTokenSource();
        var reports = new List<string>();
        var progress = new CallbackProgress<string>(r =>
        {
            reports.Add(r);
            if (IsLayers(r))
            {
                cts.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() =>
            LlamaModel.Load(TestData.Stories260K, cpu, SparseLoadMode.Off, progress, residence: WeightResidence.Memory, cancellationToken: cts.Token));

        Assert.Equal("weights: 2 of 5 layers copied", reports[^1]);
        Assert.Single(reports, IsLayers);
    }
}
