using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Prune.Tests;

/// <summary>
/// Densify writes one weight at a time, so it holds one weight's decoded index at a time: a 2:4 weight's rank-coded
/// index is decoded into owned memory when it loads (0.125 bytes a weight). Densify loaded every sparse weight before
/// writing the first and kept them all until the end, the whole model's indices (8.6 GB for a 70B at 2:4).
/// </summary>
[Collection(SparseOwnedMemoryCollection.Name)]
public sealed class DensifyMemoryTests : IDisposable
{
    private readonly TempDir _root = new("copal-densify-memory-");

    public void Dispose() => _root.Dispose();

    [Fact]
    public void Densify_holds_one_weights_decoded_index_at_a_time()
    {
        string pruned = _root.File("pruned"), compact = _root.File("compact");
        using (var backend = new CpuBackend(threads: 1))
        {
            PruneJob.Run(new PruneRequest(TestData.Stories260K, pruned, PrunerFactory.Create("magnitude"),
                new PruneOptions(SparsityPattern.Parse("2:4")) { MeasureLayerError = false }, CalibrationSet.None()), backend);
        }
        CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);

        // What each weight holds loaded alone: the most one weight may take, and the model's sum, which it must not.
        long largest = 0, all = 0;
        using (SafetensorsCheckpoint stored = SafetensorsCheckpoint.Open(compact))
        {
            Dictionary<string, string> metadata = stored.MergedMetadata();
            foreach (string name in SparseTensorCodec.SparseNames(metadata))
            {
                long before = SparseOwnedMemory.Bytes;
                using SparseMatrix m = SparseTensorCodec.Load(name, n => stored.TryGet(n, out TensorView v) ? v : null, metadata);
                long held = SparseOwnedMemory.Bytes - before;
                largest = Math.Max(largest, held);
                all += held;
            }
        }
        Assert.True(all > 2 * largest, $"the model's indices ({all} bytes) are not distinguishable from one weight's ({largest})");

        long baseline = SparseOwnedMemory.Bytes, peak = 0;
        CheckpointCompactor.Densify(compact, _root.File("dense"), overwrite: false,
            new CallbackProgress<CompactProgress>(_ => peak = Math.Max(peak, SparseOwnedMemory.Bytes - baseline)));
        Assert.True(peak <= largest, $"densify held {peak} bytes of decoded indices at once; one weight's are at most {largest} (all {all})");
        Assert.Equal(baseline, SparseOwnedMemory.Bytes);
    }
}

/// <summary>Tests that read <see cref="SparseOwnedMemory"/>, a process-wide count: xUnit runs them after, not beside, all others.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SparseOwnedMemoryCollection
{
    public const string Name = "sparse owned memory (process-wide count)";
}
