using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Backends.Ilgpu;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Prune.Tests;

/// <summary>
/// A compact BF16 model with tied embeddings whose widths are off every SIMD width (72 and 200 columns: multiples of
/// 4 and 8, not of 16 or 32, so every kernel ends in a partial chunk) runs as its dense pruned self, on the CPU's
/// sparse kernels and on ILGPU's CPU accelerator, prefill and decode, and densifies back to its bytes.
/// stories260K (F32, 64 and 172 columns) is covered by <see cref="SparseExecutionTests"/>.
/// </summary>
public sealed class CompactOddWidthTests : IDisposable
{
    private static readonly int[] Tokens = [1, 40, 7, 161, 99, 3, 200, 17, 5, 250];

    private readonly TempDir _root = new("copal-odd-width-");

    public void Dispose() => _root.Dispose();

    [Theory]
    [InlineData("2:4")]
    [InlineData("1:2")]
    [InlineData("4:8")]
    [InlineData("0.3")]
    [InlineData("0.7")]
    public void A_compact_model_of_odd_widths_runs_and_densifies_as_its_dense_pruned_self(string pattern)
    {
        (string pruned, string compact) = PruneAndCompact(pattern);
        string dense = _root.File("dense");
        CheckpointCompactor.Densify(compact, dense, overwrite: false);
        AssertSameTensors(pruned, dense);

        using var sparseBackend = new CpuBackend(threads: 2);
        using var denseBackend = new CpuBackend(threads: 2);
        using LlamaModel sparse = LlamaModel.Load(compact, sparseBackend, SparseLoadMode.Auto);
        using LlamaModel reference = LlamaModel.Load(pruned, denseBackend, SparseLoadMode.Off);
        Assert.IsType<CpuSparseWeight>(sparse.Weights.Layers[0][LinearId.DownProj]);
        AssertSameLogits(sparse, reference, $"cpu {pattern}");
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_runs_compact_models_of_odd_widths_as_their_dense_pruned_selves()
    {
        foreach (string pattern in (string[])["2:4", "4:8", "0.7"])
        {
            (string pruned, string compact) = PruneAndCompact(pattern);
            using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor("ilgpu-cpu", out _)!);
            using var cpu = new CpuBackend(threads: 2);
            using LlamaModel onDevice = LlamaModel.Load(compact, device, SparseLoadMode.Auto);
            using LlamaModel reference = LlamaModel.Load(pruned, cpu, SparseLoadMode.Off);
            Assert.IsType<IlgpuSparseWeight>(onDevice.Weights.Layers[0][LinearId.DownProj]);
            AssertSameLogits(onDevice, reference, $"ilgpu-cpu {pattern}");
            Directory.Delete(pruned, recursive: true);
            Directory.Delete(compact, recursive: true);
        }
    }

    private (string Pruned, string Compact) PruneAndCompact(string pattern)
    {
        string model = _root.File("model");
        if (!Directory.Exists(model))
        {
            LlamaConfig config = SyntheticPresets.Get("test-tiny") with
            {
                HiddenSize = 72, IntermediateSize = 200, NumHeads = 6, NumKvHeads = 2, HeadDim = 12, VocabSize = 256, TieWordEmbeddings = true,
            };
            SyntheticModelWriter.Write(config, model, DType.BF16, seed: 11, tokenizerDirectory: null);
        }
        string pruned = _root.File("pruned"), compact = _root.File("compact");
        using (var backend = new CpuBackend(threads: 1))
        {
            PruneJob.Run(new PruneRequest(model, pruned, PrunerFactory.Create("magnitude"),
                new PruneOptions(SparsityPattern.Parse(pattern)) { MeasureLayerError = false }, CalibrationSet.None()), backend);
        }
        CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);
        return (pruned, compact);
    }

    /// <summary>Prefill (every row at once) and decode (a token at a time) logits within the end-to-end bound.</summary>
    private static void AssertSameLogits(LlamaModel actual, LlamaModel expected, string what)
    {
        using RunState a = actual.CreateState(maxRows: Tokens.Length, allRowLogits: true);
        using RunState e = expected.CreateState(maxRows: Tokens.Length, allRowLogits: true);
        actual.Forward(a, Tokens, 0, LogitsMode.All);
        expected.Forward(e, Tokens, 0, LogitsMode.All);
        Tolerances.AssertClose(actual.ReadLogits(a, Tokens.Length), expected.ReadLogits(e, Tokens.Length), 0, Tolerances.LogitsAbsolute, $"{what} prefill logits");
        using RunState a1 = actual.CreateState(maxRows: 1);
        using RunState e1 = expected.CreateState(maxRows: 1);
        for (int i = 0; i < Tokens.Length; i++)
        {
            actual.Forward(a1, Tokens.AsSpan(i, 1), i, LogitsMode.Last);
            expected.Forward(e1, Tokens.AsSpan(i, 1), i, LogitsMode.Last);
            Tolerances.AssertClose(actual.ReadLogits(a1), expected.ReadLogits(e1), 0, Tolerances.LogitsAbsolute, $"{what} decode logits at {i}");
        }
    }

    private static void AssertSameTensors(string expected, string actual)
    {
        using SafetensorsCheckpoint e = SafetensorsCheckpoint.Open(expected);
        using SafetensorsCheckpoint a = SafetensorsCheckpoint.Open(actual);
        Assert.Equal(e.Tensors.Select(t => t.Name).Order(), a.Tensors.Select(t => t.Name).Order());
        foreach (TensorView t in e.Tensors)
        {
            TensorView other = a[t.Name];
            Assert.Equal(t.DType, other.DType);
            Assert.Equal(t.Shape, other.Shape);
            Assert.True(t.Bytes.SequenceEqual(other.Bytes), $"'{t.Name}' densified differs from the pruned weights");
        }
    }
}
