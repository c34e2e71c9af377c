using System.Buffers.Binary;
using Copal.Model.Config;
using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// The state file's size known before a step runs (<see cref="CopalState.ProjectedTensorBytes"/>), which a run checks
/// with the pruned model's against the free space: it must be the size the step's save then writes, for every
/// choice of what the state keeps.
/// </summary>
public sealed class CopalStateFootprintTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-state-footprint-").FullName;

    private static readonly SparsityPattern s_half = new SparsityPattern.Unstructured(0.5);

    public static TheoryData<string, CopalOptionChoices, bool> Choices() => new()
    {
        { "defaults", new CopalOptionChoices(), false },
        { "hessian sensitivity, summed", new CopalOptionChoices(Sensitivity: SensitivityEstimator.Hessian, Accumulate: SensitivityAccumulation.Sum), false },
        { "update, max", new CopalOptionChoices(Update: true, Accumulate: SensitivityAccumulation.Max), false },
        { "update", new CopalOptionChoices(Update: true), false },
        { "obs", new CopalOptionChoices(Mask: CopalMaskRule.Obs), false },
        { "obs mixed", new CopalOptionChoices(Mask: CopalMaskRule.Obs, Upstream: StatisticsUpstream.Mixed), false },
        { "obs dense-past", new CopalOptionChoices(Mask: CopalMaskRule.Obs, Upstream: StatisticsUpstream.DensePast), false },
        { "obs mixed dense target", new CopalOptionChoices(Mask: CopalMaskRule.Obs, Upstream: StatisticsUpstream.Mixed, DenseTarget: 0.5), false },
        { "obs, two layers", new CopalOptionChoices(Mask: CopalMaskRule.Obs), true },
    };

    [Theory]
    [MemberData(nameof(Choices))]
    public void The_projected_state_is_what_the_first_and_a_resumed_step_write(string what, CopalOptionChoices choices, bool twoLayers)
    {
        var options = new PruneOptions(s_half) { Layers = twoLayers ? new HashSet<int> { 1, 3 } : null };
        LlamaConfig config = LlamaConfig.Load(TestData.Stories260K);
        CopalState state = CopalRun.StartOrResume(TestData.Stories260K, null, choices, s_half);
        long projected = state.ProjectedTensorBytes(config, options.Layers);
        string step1 = Run("step1", state, options, seed: 0);
        Assert.True(projected == TensorBytes(step1), $"{what}: projected {projected} bytes, step 1 wrote {TensorBytes(step1)}");

        CopalState resumed = CopalRun.StartOrResume(TestData.Stories260K, step1, new CopalOptionChoices(), s_half);
        projected = resumed.ProjectedTensorBytes(config, options.Layers);
        string step2 = Run("step2", resumed, options, seed: 1);
        Assert.True(projected == TensorBytes(step2), $"{what}: projected {projected} bytes, step 2 wrote {TensorBytes(step2)}");
    }

    private string Run(string name, CopalState state, PruneOptions options, ulong seed)
    {
        string outDir = Path.Combine(_temp, name);
        CalibrationSet calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K), [TestData.Path("text", "tinystories", "calib.txt")], 2, 32, seed);
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, new CopalPruner(state), options, calibration)
        {
            ExtraFiles = CopalRun.StateFiles(state, calibration, s_half),
        }, backend);
        return outDir;
    }

    // The file's tensor data: its length less the 8-byte header length and the header.
    private static long TensorBytes(string folder)
    {
        string path = Path.Combine(folder, CopalState.TensorsFileName);
        using FileStream f = File.OpenRead(path);
        Span<byte> size = stackalloc byte[8];
        f.ReadExactly(size);
        return f.Length - 8 - (long)BinaryPrimitives.ReadUInt64LittleEndian(size);
    }

    public void Dispose() => Directory.Delete(_temp, recursive: true);
}
