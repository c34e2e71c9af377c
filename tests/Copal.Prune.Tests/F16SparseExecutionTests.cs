using Copal.Model.Generation;
using Copal.Model.Inference;
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
/// An F16 checkpoint (Llama-2-7b-hf stores its linears so) goes the whole compact way: stories260K converted to F16,
/// pruned 2:4 and unstructured, compacted with its values in F16, loaded compact on the CPU's sparse kernels (mapped
/// and copied) and on ILGPU's CPU accelerator, generates the dense pruned model's greedy text; densify gives the
/// pruned file back byte for byte. A mix, some linears F16 and left dense beside pruned ones in another dtype,
/// compacts too (the compactor refused a model with any F16 linear).
/// </summary>
public sealed class F16SparseExecutionTests : IDisposable
{
    private readonly TempDir _root = new("copal-f16-sparse-");

    public void Dispose()
    {
        if (Directory.Exists(_root.Path))
        {
            _root.Dispose();
        }
    }

    private string StoriesInF16(string name = "f16", Func<string, bool>? which = null) => F16Checkpoints.Copy(TestData.Stories260K, _root.File(name), which);

    private string Prune(string model, string pattern, IReadOnlySet<int>? layers = null)
    {
        string outDir = Path.Combine(_root.Path, "pruned-" + pattern.Replace(':', '-'));
        var request = new PruneRequest(model, outDir, PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse(pattern)) { MeasureLayerError = false, Layers = layers }, CalibrationSet.None());
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(request, backend);
        return outDir;
    }

    private static int[] Greedy(LlamaModel model) =>
        new Generator(model).Generate([1], 40, SamplingOptions.Greedy, new HashSet<int>()).GeneratedIds.ToArray();

    [Theory]
    [InlineData("2:4", SparseFormat.NM)]
    [InlineData("0.5", SparseFormat.Bitmask)]
    public void An_F16_model_pruned_and_compacted_runs_on_the_sparse_kernels_as_dense_and_densifies_byte_for_byte(string pattern, SparseFormat format)
    {
        string pruned = Prune(StoriesInF16(), pattern);
        string compact = _root.File("compact"), back = _root.File("dense");
        CompactReport report = CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);
        Assert.True(report.OutputBytes < report.InputBytes, $"compact file {report.OutputBytes} B is not smaller than {report.InputBytes} B");

        using var backend = new CpuBackend(threads: 2);
        int[] dense;
        using (LlamaModel densePruned = LlamaModel.Load(pruned, backend, SparseLoadMode.Off))
        {
            Assert.Equal(DType.F16, densePruned.Weights.Layers[0][LinearId.QProj].DType);
            dense = Greedy(densePruned);
        }
        foreach (WeightResidence residence in (WeightResidence[])[WeightResidence.Mapped, WeightResidence.Memory])
        {
            using LlamaModel sparse = LlamaModel.Load(compact, backend, SparseLoadMode.Auto, residence: residence);
            foreach (LinearId id in LinearIds.All)
            {
                var w = Assert.IsType<CpuSparseWeight>(sparse.Weights.Layers[2][id]);
                Assert.Equal(DType.F16, w.Matrix.DType);
                Assert.True(w.Matrix.FiniteVerified, $"{w.Name}: checked finite at load, but not marked so");
            }
            Assert.Equal(format, ((CpuSparseWeight)sparse.Weights.Layers[0][LinearId.QProj]).Matrix.Format);
            Assert.Equal(dense, Greedy(sparse));
        }
        // --sparse off densifies at load: the dense F16 weights keep the finite check, as a dense checkpoint's do.
        using (LlamaModel densified = LlamaModel.Load(compact, backend, SparseLoadMode.Off))
        {
            var w = Assert.IsAssignableFrom<CpuWeight>(densified.Weights.Layers[2][LinearId.UpProj]);
            Assert.True(w.Matrix.FiniteVerified, $"{w.Name}: densified from values checked finite at load, but not marked so");
            Assert.Equal(dense, Greedy(densified));
        }

        CheckpointCompactor.Densify(compact, back, overwrite: false);
        Assert.Equal(File.ReadAllBytes(Path.Combine(pruned, SafetensorsCheckpoint.SingleFileName)), File.ReadAllBytes(Path.Combine(back, SafetensorsCheckpoint.SingleFileName)));
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_runs_a_compact_F16_model_on_its_sparse_kernels_as_the_cpu_runs_it_dense()
    {
        string f16 = StoriesInF16();
        foreach (string pattern in (string[])["2:4", "0.5"])
        {
            string pruned = Prune(f16, pattern);
            string compact = Path.Combine(_root.Path, "compact-" + pattern.Replace(':', '-'));
            CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);
            using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor("ilgpu-cpu", out _)!);
            using var cpu = new CpuBackend(threads: 2);
            using LlamaModel onDevice = LlamaModel.Load(compact, device, SparseLoadMode.Auto);
            using LlamaModel dense = LlamaModel.Load(pruned, cpu, SparseLoadMode.Off);
            var q = Assert.IsType<IlgpuSparseWeight>(onDevice.Weights.Layers[0][LinearId.QProj]);
            Assert.Equal(DType.F16, q.DType);
            Assert.Equal(Greedy(dense), Greedy(onDevice));
        }
    }

    /// <summary>
    /// Layer 0's linears F16 and left unpruned, the other layers' pruned in F32: the pruned ones are stored compact, the
    /// F16 ones stay dense as they are, and the model generates what it did. The compactor refused such a model by its
    /// F16 linears.
    /// </summary>
    [Fact]
    public void A_model_with_F16_linears_left_dense_beside_pruned_ones_compacts()
    {
        string mixed = Prune(StoriesInF16("layer0-f16", name => name.StartsWith("model.layers.0.", StringComparison.Ordinal) && name.EndsWith("proj.weight", StringComparison.Ordinal)),
            "2:4", layers: new HashSet<int> { 1, 2, 3, 4 });
        string compact = _root.File("mixed-compact");
        CheckpointCompactor.Compact(mixed, compact, CompactFormat.Auto, overwrite: false);
        using var backend = new CpuBackend(threads: 2);
        using LlamaModel before = LlamaModel.Load(mixed, backend, SparseLoadMode.Off);
        using LlamaModel after = LlamaModel.Load(compact, backend, SparseLoadMode.Auto);
        Assert.Equal(DType.F16, after.Weights.Layers[0][LinearId.QProj].DType);
        Assert.IsNotType<CpuSparseWeight>(after.Weights.Layers[0][LinearId.QProj]);
        var pruned = Assert.IsType<CpuSparseWeight>(after.Weights.Layers[1][LinearId.QProj]);
        Assert.Equal(DType.F32, pruned.DType);
        Assert.Equal(Greedy(before), Greedy(after));
    }
}
