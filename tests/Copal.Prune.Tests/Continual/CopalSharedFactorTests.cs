using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// COPAL factors each distinct input's Hessian once a layer, as SparseGPT does: the Hessian sensitivity (this dataset's
/// H) and the fixed mask's update (the accumulated H, where the linears of a group share it) read one factor for q/k/v
/// and one for gate/up. With max accumulation each linear's update Hessian has its own diagonal, so it is its own factor.
/// </summary>
public sealed class CopalSharedFactorTests : IDisposable
{
    private readonly TempDir _temp = new("copal-copal-factor-");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(SensitivityEstimator.Hessian, SensitivityAccumulation.Sum, false, 4)] // the sensitivity's H
    [InlineData(SensitivityEstimator.Output, SensitivityAccumulation.Sum, true, 4)] // the update's accumulated H
    [InlineData(SensitivityEstimator.Hessian, SensitivityAccumulation.Sum, true, 4 + 4)]
    [InlineData(SensitivityEstimator.Output, SensitivityAccumulation.Max, true, 7)] // a diagonal of each linear's own
    public void A_layer_factors_each_distinct_input_once(SensitivityEstimator sensitivity, SensitivityAccumulation accumulate, bool update, int perLayer)
    {
        var pattern = new SparsityPattern.Unstructured(0.5);
        var choices = new CopalOptionChoices(Sensitivity: sensitivity, Accumulate: accumulate, Update: update, Mask: CopalMaskRule.Fixed);
        CopalState state = CopalRun.StartOrResume(TestData.Stories260K, null, choices, pattern);
        var pruner = new CopalPruner(state);
        var calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K), [TestData.Path("text", "tinystories", "calib.txt")], 2, 32, seed: 0);
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(new PruneRequest(TestData.Stories260K, _temp.File("out"), pruner, new PruneOptions(pattern), calibration), backend);
        Assert.Equal(5 * perLayer, pruner.Factorizations);
    }
}
