using Copal.Model.Inference;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Prune.Tests;

/// <summary>
/// Pruning swaps each layer's pruned linears into the model to rerun it; where the backend cannot load one of them (a
/// device out of memory), the ones of that layer it already loaded are freed, not left on the device.
/// </summary>
public sealed class PrunedWeightLoadFailureTests : IDisposable
{
    private readonly TempDir _root = new("copal-swap-in-");

    public void Dispose()
    {
        _root.Dispose();
    }

    [Fact]
    public void A_pruned_linear_the_backend_cannot_load_leaves_none_of_its_layer_loaded()
    {
        int modelLoads;
        using (var counting = new FailingLoadBackend(failAt: int.MaxValue))
        {
            LlamaModel.Load(TestData.Stories260K, counting).Dispose();
            modelLoads = counting.Loaded.Count;
        }
        var calibration = CalibrationSet.FromTokens([("ones", Enumerable.Repeat(1, 17).ToArray())], 1, 16, 0);
        var request = new PruneRequest(TestData.Stories260K, _root.File("pruned"), PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse("0.5")), calibration); // the layer error: magnitude then reruns each pruned layer
        // The model's weights load; the third pruned linear of the first layer does not.
        using var backend = new FailingLoadBackend(failAt: modelLoads + 3);
        Assert.Throws<InvalidOperationException>(() => PruneJob.Run(request, backend));
        Assert.Equal(modelLoads + 2, backend.Loaded.Count);
        Assert.All(backend.Loaded, w => Assert.True(w.IsDisposed, $"{w.Name} is still loaded"));
        Assert.False(Directory.Exists(request.OutDirectory));
    }

    /// <summary>The CPU backend, refusing its <c>failAt</c>-th weight as a device out of memory would.</summary>
    private sealed class FailingLoadBackend(int failAt) : CpuBackend(1), IBackend
    {
        public List<DeviceWeight> Loaded { get; } = [];

        DeviceWeight IBackend.LoadWeight(TensorView view)
        {
            if (Loaded.Count + 1 == failAt)
            {
                throw new InvalidOperationException($"no memory for '{view.Name}' (test)");
            }
            DeviceWeight weight = LoadWeight(view);
            Loaded.Add(weight);
            return weight;
        }
    }
}
