using System.Buffers.Binary;
using Copal.Model.Config;
using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// A CopalState across PruneJob runs: continued after a completed step, refused after one that did not complete; the
/// layers a resumed step prunes and the size of the file each step saves.
/// </summary>
public sealed class CopalStateRunTests : IDisposable
{
    private readonly TempDir _temp = new("copal-state-run-");

    private static readonly SparsityPattern s_half = new SparsityPattern.Unstructured(0.5);

    private static CalibrationSet Calibration(ulong seed) =>
        CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K), [TestData.Path("text", "tinystories", "calib.txt")], 2, 32, seed);

    private static CopalState Start() => CopalRun.StartOrResume(TestData.Stories260K, null, new CopalOptionChoices(), s_half);

    private string Run(string name, CopalState state, CalibrationSet calibration, bool saveState = true, IProgress<PruneProgress>? progress = null,
        IReadOnlySet<int>? layers = null, CancellationToken cancellationToken = default)
    {
        string outDir = _temp.File(name);
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, new CopalPruner(state), new PruneOptions(s_half) { Layers = layers }, calibration)
        {
            ExtraFiles = saveState ? CopalRun.StateFiles(state, calibration, s_half) : new Dictionary<string, Action<string, CancellationToken>>(),
        }, backend, progress, cancellationToken);
        return outDir;
    }

    [Fact]
    public void After_a_completed_run_the_same_state_takes_the_next_step_as_the_saved_one_would()
    {
        CopalState state = Start();
        string step1 = Run("step1", state, Calibration(0));
        string step2 = Run("step2", state, Calibration(1));
        string resumedStep2 = Run("resumed-step2", CopalRun.StartOrResume(TestData.Stories260K, step1, new CopalOptionChoices(), s_half), Calibration(1));
        Assert.Equal(2, state.Datasets.Count);
        foreach (string file in new[] { "model.safetensors", CopalState.TensorsFileName })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(resumedStep2, file)), File.ReadAllBytes(Path.Combine(step2, file)));
        }
        // It now reads from the step it saved: that folder is its input.
        Assert.Throws<IOException>(() => Run("step2", state, Calibration(2)));
    }

    [Fact]
    public void A_state_whose_run_did_not_complete_refuses_every_further_use_naming_the_way_on()
    {
        CopalState state = Start();
        using var cancel = new CancellationTokenSource();
        var progress = new CallbackProgress<PruneProgress>(p =>
        {
            if (p.Layer >= 2)
            {
                cancel.Cancel();
            }
        });
        Assert.ThrowsAny<OperationCanceledException>(() => Run("cancelled", state, Calibration(0), progress: progress, cancellationToken: cancel.Token));
        Assert.False(Directory.Exists(_temp.File("cancelled")));
        var uses = new Action[]
        {
            () => Run("again", state, Calibration(0)),
            () => state.Save(_temp.File("state")),
            () => new CopalPruner(state).Prune(new LinearTarget(0, LinearId.QProj, "model.layers.0.self_attn.q_proj.weight", 64, 64), new float[64 * 64],
                new InputStatistics(64, collectHessian: true), s_half, CancellationToken.None),
            () =>
            {
                state.DiscardSpill();
                Run("after-discard", state, Calibration(0));
            },
        };
        foreach (Action use in uses)
        {
            InvalidOperationException e = Assert.Throws<InvalidOperationException>(use);
            Assert.StartsWith("this CopalState's PruneJob run did not complete (failed or cancelled)", e.Message, StringComparison.Ordinal);
            Assert.Contains("CopalRun.StartOrResume(model, resumeFolder, choices)", e.Message, StringComparison.Ordinal);
        }
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    /// <summary>
    /// "An object serves one run at a time": a second run begun while one is in flight (here from its progress, so the
    /// order is fixed) is refused before it touches the state, saying so, and the first run completes and can go on.
    /// Both used to fold into the state, and both failed: the second naming a linear with one dataset too many, the
    /// first then finding the state spent.
    /// </summary>
    [Fact]
    public void A_second_run_begun_while_one_is_in_flight_is_refused_and_the_first_completes()
    {
        CopalState state = Start();
        InvalidOperationException? refused = null;
        var progress = new CallbackProgress<PruneProgress>(p =>
        {
            if (p.Layer == 1 && refused is null)
            {
                refused = Assert.Throws<InvalidOperationException>(() => Run("second", state, Calibration(1)));
            }
        });
        string first = Run("first", state, Calibration(0), progress: progress);
        Assert.NotNull(refused);
        Assert.StartsWith($"this CopalState is in another PruneJob run (--out '{first}'): a CopalState serves one PruneJob run at a time", refused.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("second")));
        Assert.Single(state.Datasets);
        Assert.True(File.Exists(Path.Combine(first, CopalState.TensorsFileName)));
        Run("next", state, Calibration(1));
        Assert.Equal(2, state.Datasets.Count);
    }

    /// <summary>
    /// The one-run-at-a-time gate is let go on every way out: a run cancelled before its first fold, and runs refused
    /// before any work (a layer the model lacks, an output that exists), leave the state untouched and free, so the
    /// next run is not refused as if one were still in flight.
    /// </summary>
    [Fact]
    public void A_run_cancelled_before_its_first_fold_or_refused_before_work_leaves_the_state_free_for_the_next()
    {
        CopalState state = Start();
        using var cancel = new CancellationTokenSource();
        var progress = new CallbackProgress<PruneProgress>(p =>
        {
            if (p.Layer == 0)
            {
                cancel.Cancel();
            }
        });
        Assert.ThrowsAny<OperationCanceledException>(() => Run("cancelled", state, Calibration(0), progress: progress, cancellationToken: cancel.Token));
        Assert.Empty(state.Datasets);
        Assert.ThrowsAny<ArgumentException>(() => Run("no-such-layer", state, Calibration(0), layers: new HashSet<int> { 99 }));
        Directory.CreateDirectory(_temp.File("taken"));
        File.WriteAllText(Path.Combine(_temp.File("taken"), "notes.txt"), "a person's file");
        IOException taken = Assert.ThrowsAny<IOException>(() => Run("taken", state, Calibration(0)));
        Assert.Contains("exists and is not empty", taken.Message, StringComparison.Ordinal);

        string next = Run("next", state, Calibration(0));
        Assert.Single(state.Datasets);
        Assert.True(File.Exists(Path.Combine(next, CopalState.TensorsFileName)));
    }

    [Fact]
    public void A_run_that_does_not_save_its_state_leaves_no_spill_in_the_output_and_the_state_is_not_used_again()
    {
        CopalState state = Start();
        string outDir = Run("unsaved", state, Calibration(0), saveState: false);
        Assert.Equal(["config.json", "generation_config.json", "model.safetensors", PruneJob.ReportFileName, "tokenizer.json", "tokenizer_config.json"],
            Directory.GetFileSystemEntries(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => Run("next", state, Calibration(1)));
        Assert.StartsWith("this CopalState's PruneJob run did not save its step", e.Message, StringComparison.Ordinal);
        Assert.Contains("CopalRun.StateFiles", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A run that failed after its step was recorded is spent, also when the state was saved outside the output (an
    /// extra file of the caller's that saves it elsewhere, then one that fails): the state holds a step whose pruned
    /// model was never written, so it must not go on as if that step had completed.
    /// </summary>
    [Fact]
    public void A_run_that_failed_after_recording_its_step_is_spent_even_with_the_state_saved_elsewhere()
    {
        CopalState state = Start();
        CalibrationSet calibration = Calibration(0);
        string outDir = _temp.File("failed");
        var extraFiles = new Dictionary<string, Action<string, CancellationToken>>
        {
            ["a-step.txt"] = (_, cancellationToken) =>
            {
                state.CompleteStep(new CalibrationReport(calibration.Sources, calibration.Samples.Count, calibration.SeqLen, calibration.Seed, calibration.Hash), s_half);
                state.Save(_temp.File("elsewhere"), cancellationToken);
            },
            ["b-fails.txt"] = (_, _) => throw new IOException("no room for b-fails.txt"),
        };
        using (var backend = new CpuBackend(threads: 1))
        {
            Assert.Throws<IOException>(() => PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, new CopalPruner(state), new PruneOptions(s_half), calibration)
            {
                ExtraFiles = extraFiles,
            }, backend));
        }
        Assert.False(Directory.Exists(outDir));
        Assert.Single(state.Datasets);
        InvalidOperationException e = Assert.Throws<InvalidOperationException>(() => Run("again", state, Calibration(1)));
        Assert.StartsWith("this CopalState's PruneJob run did not complete (failed or cancelled)", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A step run with --layers keeps the state of those layers: it resumed as "not of this model" before, and a step over
    /// other layers would meet linears a dataset behind. The next step prunes the same layers, and only those.
    /// </summary>
    [Fact]
    public void A_state_of_some_layers_takes_further_steps_over_those_layers_only()
    {
        var layers = new HashSet<int> { 1, 3 };
        CopalState state = Start();
        string step1 = Run("step1", state, Calibration(0), layers: layers);
        Assert.Equal(layers, state.CoveredLayers());
        foreach (IReadOnlySet<int>? other in new IReadOnlySet<int>?[] { null, new HashSet<int> { 1 }, new HashSet<int> { 1, 2, 3 } })
        {
            CopalState resumed = CopalRun.StartOrResume(TestData.Stories260K, step1, new CopalOptionChoices(), s_half);
            PruningOptionException e = Assert.Throws<PruningOptionException>(() => Run("other", resumed, Calibration(1), layers: other));
            Assert.Equal("1,3, the layers the COPAL state's 1 earlier step pruned (every step of a continual run prunes the same layers)", e.Expected);
            Assert.Equal(other is null ? "none (every layer, 0-4)" : PruneOptions.FormatLayers(other), e.Value);
            Assert.False(Directory.Exists(_temp.File("other")));
        }
        string step2 = Run("step2", CopalRun.StartOrResume(TestData.Stories260K, step1, new CopalOptionChoices(), s_half), Calibration(1), layers: layers);
        Assert.Equal(2, CopalState.Load(step2).Datasets.Count);
    }

    public static TheoryData<string, CopalOptionChoices, bool> StateChoices() => new()
    {
        { "defaults", new CopalOptionChoices(), false },
        { "hessian sensitivity, summed", new CopalOptionChoices(Sensitivity: SensitivityEstimator.Hessian, Accumulate: SensitivityAccumulation.Sum), false },
        { "update", new CopalOptionChoices(Update: true), false },
        { "update, max", new CopalOptionChoices(Update: true, Accumulate: SensitivityAccumulation.Max), false },
        { "obs", new CopalOptionChoices(Mask: CopalMaskRule.Obs), false },
        { "obs mixed", new CopalOptionChoices(Mask: CopalMaskRule.Obs, Upstream: StatisticsUpstream.Mixed), false },
        { "obs dense-past", new CopalOptionChoices(Mask: CopalMaskRule.Obs, Upstream: StatisticsUpstream.DensePast), false },
        { "obs mixed dense target", new CopalOptionChoices(Mask: CopalMaskRule.Obs, Upstream: StatisticsUpstream.Mixed, DenseTarget: 0.5), false },
        { "obs, two layers", new CopalOptionChoices(Mask: CopalMaskRule.Obs), true },
    };

    /// <summary>
    /// The state file's size known before a step runs (<see cref="CopalState.ProjectedTensorBytes"/>), which a run checks
    /// with the pruned model's against the free space, is the size the step's save then writes, for every choice of
    /// what the state keeps.
    /// </summary>
    [Theory]
    [MemberData(nameof(StateChoices))]
    public void The_projected_state_is_what_the_first_and_a_resumed_step_write(string what, CopalOptionChoices choices, bool twoLayers)
    {
        IReadOnlySet<int>? layers = twoLayers ? new HashSet<int> { 1, 3 } : null;
        LlamaConfig config = LlamaConfig.Load(TestData.Stories260K);
        CopalState state = CopalRun.StartOrResume(TestData.Stories260K, null, choices, s_half);
        long projected = state.ProjectedTensorBytes(config, layers);
        string step1 = Run("step1", state, Calibration(0), layers: layers);
        Assert.True(projected == TensorBytes(step1), $"{what}: projected {projected} bytes, step 1 wrote {TensorBytes(step1)}");

        CopalState resumed = CopalRun.StartOrResume(TestData.Stories260K, step1, new CopalOptionChoices(), s_half);
        projected = resumed.ProjectedTensorBytes(config, layers);
        string step2 = Run("step2", resumed, Calibration(1), layers: layers);
        Assert.True(projected == TensorBytes(step2), $"{what}: projected {projected} bytes, step 2 wrote {TensorBytes(step2)}");
    }

    // The state file's tensor data: its length less the 8-byte header length and the header.
    private static long TensorBytes(string folder)
    {
        using FileStream f = File.OpenRead(Path.Combine(folder, CopalState.TensorsFileName));
        Span<byte> size = stackalloc byte[8];
        f.ReadExactly(size);
        return f.Length - 8 - (long)BinaryPrimitives.ReadUInt64LittleEndian(size);
    }

    public void Dispose() => _temp.Dispose();
}
