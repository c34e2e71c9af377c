using Copal.Model.Evaluation;
using Copal.Model.Inference;
using Copal.Prune.Calibration;
using Copal.Prune.Continual.Protocol;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// The joint reference of step t is one prune of the dense model with nsamples windows of each of D_1..D_t pooled
/// (ALGORITHMS.md's "upper reference"): its R row is what that model scores, and its mask_change the share of weights
/// whose zero status differs from step 1's model, both rebuilt here by hand with the same calibration and evaluation.
/// </summary>
public class ContinualJointReferenceTests
{
    [Fact]
    public void The_joint_step_2_is_the_dense_model_pruned_with_both_datasets_pooled()
    {
        string text(string a, string b) => TestData.Path("text", a, b);
        var datasets = ContinualDataset.ParseList($"tiny={text("tinystories", "calib.txt")}:{text("tinystories", "eval.txt")},ptb={text("ptb", "ptb.valid.txt")}:{text("ptb", "ptb.test.txt")}@lines");
        var request = new ContinualRequest(TestData.Stories260K, datasets, ["wanda"], new SparsityPattern.Unstructured(0.5), 1, 32, 32, [5UL],
            new Copal.Prune.Continual.CopalOptions()) { EvalLimitChunks = 1 };
        ContinualData data = ContinualRunner.Prepare(request);
        using var backend = new CpuBackend(threads: 1);
        ContinualReport report = ContinualRunner.Run(request, data, backend);
        SeedRun joint = report.Variants.Single(v => v.Name == "joint-wanda").Seeds[0];

        using var temp = new TempDir("copal-joint-test-");
        string Prune(string name, CalibrationSet calibration)
        {
            string output = temp.File(name);
            PruneJob.Run(new PruneRequest(TestData.Stories260K, output, PrunerFactory.Create("wanda"), new PruneOptions(request.Pattern) { MeasureLayerError = false }, calibration), backend);
            return output;
        }
        string step1 = Prune("step1", CalibrationSet.FromTokens([("tiny", data.CalibrationTokens[0])], request.NSamples, request.SeqLen, 5UL));
        string step2 = Prune("step2", CalibrationSet.FromTokens([("tiny", data.CalibrationTokens[0]), ("ptb", data.CalibrationTokens[1])], 2 * request.NSamples, request.SeqLen, 5UL));
        using LlamaModel model = LlamaModel.Load(step2, backend);
        var options = new PerplexityOptions(request.EvalSeqLen) { LimitChunks = request.EvalLimitChunks };
        double[] expected = [.. data.EvaluationTokens.Select(tokens => PerplexityEvaluator.Evaluate(model, tokens, options).Perplexity)];

        Assert.Equal(expected, joint.R[1]);
        // Not the reset's row: the pooled model is another model.
        Assert.NotEqual(report.Variants.Single(v => v.Name == "wanda-reset").Seeds[0].R[1], joint.R[1]);
        double drift = MaskDrift.Fraction(step1, step2);
        Assert.True(drift > 0, "pooling a second dataset moved no weight's mask");
        Assert.Equal(drift, joint.MaskChange[1]);
        Assert.Null(joint.MaskChange[0]);
    }
}
