namespace Copal.Prune.Tests;

/// <summary>Parsing, validation and the errors a user sees.</summary>
public class ApiContractTests
{
    [Theory]
    [InlineData("0.5", 0.5)]
    [InlineData(" 0.7 ", 0.7)]
    [InlineData("0", 0.0)]
    [InlineData("0.95", 0.95)]
    [InlineData("1e-1", 0.1)]
    [InlineData("5E-1", 0.5)]
    [InlineData(".5", 0.5)]
    public void Parses_unstructured(string text, double ratio)
    {
        var p = Assert.IsType<SparsityPattern.Unstructured>(SparsityPattern.Parse(text));
        Assert.Equal(ratio, p.Ratio);
        Assert.Equal(ratio, p.TargetSparsity);
    }

    /// <summary>
    /// An empty model or output path is an ArgumentException naming it, before any work: "" is no folder, and the
    /// model's config and tokenizer would otherwise be read from the process's working folder.
    /// </summary>
    [Fact]
    public void An_empty_model_or_output_path_is_an_ArgumentException_naming_it()
    {
        using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend();
        string calib = Copal.Testing.TestData.Path("text", "tinystories", "calib.txt");
        var request = new Copal.Prune.Driver.PruneRequest(Copal.Testing.TestData.Stories260K, "", Copal.Prune.Driver.PrunerFactory.Create("magnitude"),
            new Copal.Prune.Driver.PruneOptions(new SparsityPattern.Unstructured(0.5)), Copal.Prune.Calibration.CalibrationSet.None());
        (string Parameter, string Says, Action Call)[] calls =
        [
            ("modelDirectory", "", () => Copal.Prune.Driver.PruneJob.Calibrate("", [calib], 4, 64, 0)),
            ("request", "PruneRequest.OutDirectory is empty", () => Copal.Prune.Driver.PruneJob.Run(request, backend)),
            ("request", "PruneRequest.ModelDirectory is empty", () => Copal.Prune.Driver.PruneJob.Run(request with { ModelDirectory = "", OutDirectory = "x" }, backend)),
            ("modelDirectory", "", () => Copal.Prune.Continual.CopalRun.StartOrResume("", null, new Copal.Prune.Continual.CopalOptionChoices())),
            ("resumeDirectory", "resume from is empty", () => Copal.Prune.Continual.CopalRun.StartOrResume(Copal.Testing.TestData.Stories260K, "", new Copal.Prune.Continual.CopalOptionChoices())),
            ("request", "ContinualRequest.ModelDirectory is empty", () => Copal.Prune.Continual.Protocol.ContinualRunner.Run(new Copal.Prune.Continual.Protocol.ContinualRequest("",
                Copal.Prune.Continual.Protocol.ContinualDataset.ParseList($"a={calib}"), ["magnitude"], new SparsityPattern.Unstructured(0.5), 4, 64, 64, [0UL], new Copal.Prune.Continual.CopalOptions()), backend)),
        ];
        foreach ((string parameter, string says, Action call) in calls)
        {
            var e = Assert.Throws<ArgumentException>(call);
            Assert.Equal(parameter, e.ParamName);
            Assert.Contains(says, e.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("2:4", 2, 4)]
    [InlineData("3:8", 3, 8)]
    public void Parses_nm(string text, int n, int m)
    {
        var p = Assert.IsType<SparsityPattern.NM>(SparsityPattern.Parse(text));
        Assert.Equal((n, m), (p.N, p.M));
        Assert.Equal((double)n / m, p.TargetSparsity);
        Assert.Equal(text, p.ToString());
    }

    [Theory]
    [InlineData("0.96")]
    [InlineData("-0.1")]
    [InlineData("1.5")]
    [InlineData("4:4")]
    [InlineData("0:4")]
    [InlineData("5:4")]
    [InlineData("a:b")]
    [InlineData("half")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("1e1")]
    public void Rejects_bad_sparsity_naming_option_and_value(string text)
    {
        var e = Assert.Throws<PruningOptionException>(() => SparsityPattern.Parse(text));
        Assert.Equal("sparsity", e.Option);
        Assert.Contains("'sparsity'", e.Message, StringComparison.Ordinal);
        Assert.Contains("expected", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NM_rejects_columns_not_divisible_by_M_with_clear_error()
    {
        var e = Assert.Throws<PruningShapeException>(() =>
            new MagnitudePruner().Prune(new float[2 * 6], 2, 6, null, new SparsityPattern.NM(2, 4)));
        Assert.Contains("multiple of 4", e.Message, StringComparison.Ordinal);
        Assert.Contains("6 columns", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Shape_and_statistics_errors_name_both_values()
    {
        var e = Assert.Throws<PruningShapeException>(() =>
            new WandaPruner().Prune(new float[10], 2, 4, new InputStatistics(4, false), new SparsityPattern.Unstructured(0.5)));
        Assert.Contains("10 elements", e.Message, StringComparison.Ordinal);
        var stats = new InputStatistics(5, false);
        stats.AddSequence(new float[5], 1);
        e = Assert.Throws<PruningShapeException>(() =>
            new WandaPruner().Prune(new float[8], 2, 4, stats, new SparsityPattern.Unstructured(0.5)));
        Assert.Contains("5 columns, expected 4", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<PruningShapeException>(() =>
            new SparseGptPruner().Prune(new float[8], 2, 4, new InputStatistics(4, false), new SparsityPattern.Unstructured(0.5)));
        Assert.Contains("no Hessian", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentNullException>(() => new WandaPruner().Prune(new float[8], 2, 4, null, new SparsityPattern.Unstructured(0.5)));
    }

    [Fact]
    public void Non_finite_weight_is_named()
    {
        var e = Assert.Throws<ArgumentException>(() =>
            new MagnitudePruner().Prune(new float[] { 1, 2, float.NaN, 4 }, 2, 2, null, new SparsityPattern.Unstructured(0.5)));
        Assert.Contains("weight[1, 0]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SparseGpt_options_are_validated()
    {
        Assert.Equal("blocksize", Assert.Throws<PruningOptionException>(() => new SparseGptPruner(new SparseGptOptions(BlockSize: 0))).Option);
        Assert.Equal("percdamp", Assert.Throws<PruningOptionException>(() => new SparseGptPruner(new SparseGptOptions(PercentDamp: -1))).Option);
        var stats = PruningPropertyTests.RandomStatistics(new Random(1), 24);
        var e = Assert.Throws<PruningOptionException>(() =>
            new SparseGptPruner(new SparseGptOptions(BlockSize: 12)).Prune(new float[2 * 24], 2, 24, stats, new SparsityPattern.NM(1, 8)));
        // The pattern is what a user chooses (copal prune has no block size option), so the refusal names it.
        Assert.Equal(("pattern", "1:8"), (e.Option, e.Value));
        Assert.Contains("SparseGPT's block of 12 columns", e.Expected, StringComparison.Ordinal);
    }

    [Fact]
    public void SparseGpt_dampening_schedule_is_documented_one()
    {
        var o = new SparseGptOptions();
        Assert.Equal([0.01, 0.1, 1.0, 10.0], Enumerable.Range(0, 4).Select(o.DampFor).Select(v => Math.Round(v, 12)));
        var zero = new SparseGptOptions(PercentDamp: 0);
        Assert.Equal([0.0, 0.1, 1.0], Enumerable.Range(0, 3).Select(zero.DampFor).Select(v => Math.Round(v, 12)));
    }

    /// <summary>
    /// A Hessian holding NaN or ∞ is refused before any factorization, naming the entry and its cause (a non-finite
    /// calibration activation) in one line, not a pivot of a factorization that could never succeed.
    /// </summary>
    [Fact]
    public void SparseGpt_names_the_non_finite_hessian_entry_and_its_cause()
    {
        var stats = new InputStatistics(4, collectHessian: true);
        stats.AddSequence(new float[] { 1, float.NaN, 0, 2 }, 1);
        var e = Assert.Throws<HessianFactorizationException>(() =>
            new SparseGptPruner(new SparseGptOptions(MaxDampRetries: 2)).Prune(new float[8] { 1, 2, 3, 4, 5, 6, 7, 8 }, 2, 4, stats, new SparsityPattern.Unstructured(0.5)));
        Assert.Equal("the [4, 4] input Hessian holds NaN at row 0, column 1 (input features 0 and 1): the calibration activations held a non-finite value, or their products overflowed; pruning needs finite activations", e.Message);

        var h = new double[9];
        h[0] = h[4] = 1;
        h[8] = double.PositiveInfinity;
        e = Assert.Throws<HessianFactorizationException>(() =>
            new SparseGptPruner().Prune(new float[6] { 1, 2, 3, 4, 5, 6 }, 2, 3, InputStatistics.FromHessian(h, 3), new SparsityPattern.Unstructured(0.5)));
        Assert.Contains("holds +Inf at row 2, column 2 (input features 2 and 2)", e.Message, StringComparison.Ordinal);

        // Finite activations of 1e20 whose f32 Gram sums (as a backend gives them) overflowed: an overflow, not a
        // non-finite activation, is the cause the message gives first.
        var overflowed = new InputStatistics(2, collectHessian: true);
        overflowed.AddSequence(new float[] { float.PositiveInfinity, 1 }, new float[] { float.PositiveInfinity, 1e20f, 1e20f, 1 }, 1);
        e = Assert.Throws<HessianFactorizationException>(() =>
            new SparseGptPruner().Prune(new float[4] { 1, 2, 3, 4 }, 2, 2, overflowed, new SparsityPattern.Unstructured(0.5)));
        Assert.Equal("the [2, 2] input Hessian holds +Inf at row 0, column 0 (input features 0 and 0): the calibration activations' products "
            + "overflowed where they were summed (single precision passes 3.4e38 at activations of magnitude 1.8e19), or an activation was infinite; "
            + "pruning needs activations whose products fit", e.Message);
    }

    [Fact]
    public void SparseGpt_fails_with_typed_error_on_a_hessian_no_dampening_makes_positive_definite()
    {
        var h = new double[] { -1, 0, 0, -1 };
        var e = Assert.Throws<HessianFactorizationException>(() =>
            new SparseGptPruner(new SparseGptOptions(MaxDampRetries: 2)).Prune(new float[4] { 1, 2, 3, 4 }, 2, 2, InputStatistics.FromHessian(h, 2), new SparsityPattern.Unstructured(0.5)));
        Assert.Contains("not positive definite after 3 attempts", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    /// <summary>
    /// COPAL's weight update factors its Hessian with the same code as SparseGPT; the failure names no method (the driver
    /// prefixes the tensor), so a COPAL run is not told that SparseGPT failed.
    /// </summary>
    [Fact]
    public void A_failed_factorization_in_copals_update_names_no_other_method()
    {
        var e = Assert.Throws<HessianFactorizationException>(() =>
            Copal.Prune.Continual.MaskedObsUpdate.Apply(new float[4] { 1, 2, 3, 4 }, 2, 2, new bool[4] { true, false, false, true }, new float[] { -1, 0, 0, -1 }, 0.01, CancellationToken.None));
        Assert.StartsWith("the [2, 2] Hessian is not positive definite after 9 attempts", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("SparseGPT", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cancellation_is_observed()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var stats = PruningPropertyTests.RandomStatistics(new Random(2), 64);
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new SparseGptPruner().Prune(new float[64 * 64], 64, 64, stats, new SparsityPattern.Unstructured(0.5), cts.Token));
    }

    [Fact]
    public void Hessian_is_unavailable_without_collection()
    {
        var stats = new InputStatistics(3, collectHessian: false);
        Assert.False(stats.HasHessian);
        Assert.Throws<InvalidOperationException>(() => stats.Hessian);
    }
}
