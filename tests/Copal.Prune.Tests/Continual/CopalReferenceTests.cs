using System.Text.Json;
using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// COPAL end to end on stories260K, step after resumed step, against the float64 reference written from docs/copal.md
/// (tools/reference/copal_reference.py): each step's masks, reconstruction errors and squared-weight sums, and the
/// state it saves (every linear's column vector S, and the accumulated Hessian and cross term of each input group).
/// The other COPAL tests check the pieces; this one checks that they make the documented method together: the
/// statistics through this step's pruned upstream, the fold of each dataset (normalization, decay, sum / max /
/// pooled), the mask from the dense parent, the update and the OBS sweep, and the state carried across --resume.
/// </summary>
public sealed class CopalReferenceTests : IDisposable
{
    private readonly TempDir _temp = new("copal-reference-");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("stories260K.copal_output_sum_decay0.5_0.5.json")]
    [InlineData("stories260K.copal_hessian_max_update_2o4.json")]
    [InlineData("stories260K.copal_output_max_decay0.9_obs_0.6.json")]
    [InlineData("stories260K.copal_pooled_decay0.8_obs_dense_target_0.5.json")]
    [InlineData("stories260K.copal_pooled_obs_dense_past_dense_target_0.75_2o4.json")]
    [InlineData("stories260K.copal_pooled_obs_mixed_0.5.json")]
    [InlineData("stories260K.copal_pooled_obs_dense_0.5.json")]
    [InlineData("stories260K.copal_pooled_obs_mixed_dense_target_0.75_2o4_true_sequential.json")]
    public void Every_step_prunes_and_folds_as_the_reference(string file)
    {
        JsonElement golden = GoldenCase.Read(file);
        JsonElement options = golden.GetProperty("options");
        var choices = new CopalOptionChoices(
            Sensitivity: Enum.Parse<SensitivityEstimator>(options.GetProperty("sensitivity").GetString()!, ignoreCase: true),
            Accumulate: Enum.Parse<SensitivityAccumulation>(options.GetProperty("accumulate").GetString()!, ignoreCase: true),
            Decay: options.GetProperty("decay").GetDouble(),
            Update: options.GetProperty("update").GetBoolean(),
            Mask: Enum.Parse<CopalMaskRule>(options.GetProperty("mask").GetString()!, ignoreCase: true),
            Upstream: CopalOptions.ParseUpstream(options.GetProperty("upstream").GetString()!),
            DenseTarget: options.GetProperty("dense_target").GetDouble());
        SparsityPattern pattern = SparsityPattern.Parse(golden.GetProperty("pattern").GetString()!);
        var layers = PruneOptions.ParseLayers(golden.GetProperty("layers").GetString()!, 5);
        bool trueSequential = golden.GetProperty("true_sequential").GetBoolean();
        string[] texts = golden.GetProperty("calib").EnumerateArray().Select(e => e.GetString()!).ToArray();
        JsonElement[] steps = golden.GetProperty("steps").EnumerateArray().ToArray();

        string? previous = null;
        for (int t = 0; t < steps.Length; t++)
        {
            string[] parts = texts[t].Split('/');
            CalibrationSet calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K),
                [TestData.Path("text", parts[0], parts[1])], golden.GetProperty("nsamples").GetInt32(),
                golden.GetProperty("seqlen").GetInt32(), golden.GetProperty("seed").GetUInt64());
            // The same windows: tokenizer, seeded offsets and window bounds agree before any arithmetic does.
            Assert.Equal(steps[t].GetProperty("calibration_hash").GetString(), calibration.Hash);

            // Step 1 starts a state; every later one resumes the previous step's folder, as `--resume` does.
            CopalState state = CopalRun.StartOrResume(TestData.Stories260K, previous, previous is null ? choices : new CopalOptionChoices(), pattern);
            string outDir = _temp.File($"step{t + 1}");
            PruneReport report;
            using (var backend = new CpuBackend())
            {
                report = PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, new CopalPruner(state), new PruneOptions(pattern) { Layers = layers, TrueSequential = trueSequential }, calibration)
                {
                    ExtraFiles = CopalRun.StateFiles(state, calibration, pattern),
                }, backend);
            }
            CheckStep(steps[t], t + 1, outDir, report);
            previous = outDir;
        }
    }

    private static void CheckStep(JsonElement step, int number, string outDir, PruneReport report)
    {
        var errors = report.Layers.SelectMany(l => l.Linears).ToDictionary(l => l.Name, l => l.ReconstructionError);
        JsonElement linears = step.GetProperty("linears");
        Assert.Equal(linears.EnumerateObject().Count(), errors.Count);
        using var pruned = SafetensorsCheckpoint.Open(outDir);
        using var state = SafetensorsFile.Open(Path.Combine(outDir, CopalState.TensorsFileName));
        foreach (JsonProperty linear in linears.EnumerateObject())
        {
            string name = linear.Name, where = $"step {number}, {linear.Name}";
            JsonElement expected = linear.Value;
            GoldenLinear.AssertWeights(expected, pruned, name, where);
            if (expected.GetProperty("reconstruction_error").ValueKind == JsonValueKind.Number)
            {
                GoldenLinear.AssertClose(expected.GetProperty("reconstruction_error").GetDouble(), errors[name]!.Value, $"{where}: reconstruction error");
            }
            else
            {
                Assert.Null(errors[name]);
            }

            string stem = name[..^".weight".Length];
            double[] columns = state[stem + ".copal_columns"].AsSpan<double>().ToArray();
            double[] reference = GoldenCase.Doubles(expected.GetProperty("columns_f64"));
            Assert.Equal(reference.Length, columns.Length);
            double scale = reference.Max(Math.Abs);
            for (int j = 0; j < columns.Length; j++)
            {
                Assert.True(Math.Abs(columns[j] - reference[j]) <= PruningTolerances.PipelineRelative * scale,
                    $"{where}: column state S[{j}] {columns[j]:R}, reference {reference[j]:R}");
            }
            CheckMatrix(expected, "hessian", state, stem + ".copal_hessian_upper", packed: true, where);
            CheckMatrix(expected, "dense_hessian", state, stem + ".copal_dense_hessian_upper", packed: true, where);
            CheckMatrix(expected, "cross_term", state, stem + ".copal_cross_term", packed: false, where);
        }
    }

    // A state matrix against the reference's sum, sum of squares and trace of the whole matrix.
    private static void CheckMatrix(JsonElement expected, string property, SafetensorsFile state, string tensor, bool packed, string where)
    {
        if (!expected.TryGetProperty(property, out JsonElement summary))
        {
            Assert.False(state.TryGet(tensor, out _), $"{where}: the state holds {tensor}, the reference none");
            return;
        }
        float[] values = state[tensor].AsSpan<float>().ToArray();
        int n = packed ? (int)((Math.Sqrt(8.0 * values.Length + 1) - 1) / 2) : (int)Math.Sqrt(values.Length);
        double sum = 0, squares = 0, trace = 0;
        int k = 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = packed ? i : 0; j < n; j++, k++)
            {
                double v = values[k], times = packed && j != i ? 2 : 1;
                sum += times * v;
                squares += times * v * v;
                trace += i == j ? v : 0;
            }
        }
        // A sum of signed entries cancels (the cross term's most of all: its entries are differences of activations that
        // Copal computes in float), so its bound is the tolerance on the matrix, |Σ ΔK| ≤ n·‖ΔK‖_F ≤ n·1e-5·‖K‖_F.
        double expectedSum = summary.GetProperty("sum").GetDouble();
        double bound = PruningTolerances.PipelineRelative * n * Math.Sqrt(summary.GetProperty("sum_squares").GetDouble());
        Assert.True(Math.Abs(sum - expectedSum) <= bound, $"{where}: {property} sum {sum:R}, reference {expectedSum:R}, bound {bound:R}");
        GoldenLinear.AssertClose(summary.GetProperty("sum_squares").GetDouble(), squares, $"{where}: {property} sum of squares");
        GoldenLinear.AssertClose(summary.GetProperty("trace").GetDouble(), trace, $"{where}: {property} trace");
    }
}
