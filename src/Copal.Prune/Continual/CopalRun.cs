using Copal.Model.Config;

namespace Copal.Prune.Continual;

/// <summary>Options given on the command line for a COPAL step; null means "not given" (on resume: take the state's).</summary>
/// <param name="Sensitivity">The per-dataset estimator (<see cref="CopalOptions.Sensitivity"/>).</param>
/// <param name="Accumulate">How datasets are combined (<see cref="CopalOptions.Accumulate"/>).</param>
/// <param name="Decay">γ in (0, 1] (<see cref="CopalOptions.Decay"/>).</param>
/// <param name="Update">Reconstruct the kept weights (<see cref="CopalOptions.Update"/>); true alone implies the fixed mask.</param>
/// <param name="Mask">The mask rule (<see cref="CopalOptions.Mask"/>).</param>
/// <param name="Upstream">Where the statistics come from (<see cref="CopalOptions.Upstream"/>).</param>
/// <param name="DenseTarget">α in [0, 1] (<see cref="CopalOptions.DenseTarget"/>).</param>
public sealed record CopalOptionChoices(SensitivityEstimator? Sensitivity = null, SensitivityAccumulation? Accumulate = null, double? Decay = null, bool? Update = null,
    CopalMaskRule? Mask = null, Driver.StatisticsUpstream? Upstream = null, double? DenseTarget = null)
{
    /// <summary>
    /// These choices with the defaults of <see cref="CopalOptions"/> where not given (<c>--update</c> alone implies
    /// <c>--mask fixed</c>); a new run's upstream is <see cref="CopalOptions.DefaultUpstream"/> for
    /// <paramref name="pattern"/> where one is given.
    /// </summary>
    public CopalOptions WithDefaults(CopalOptions? fallback = null, SparsityPattern? pattern = null)
    {
        CopalOptions d = fallback ?? new CopalOptions();
        CopalOptions options = d with
        {
            Sensitivity = Sensitivity ?? d.Sensitivity,
            Accumulate = Accumulate ?? d.Accumulate,
            Decay = Decay ?? d.Decay,
            Update = Update ?? d.Update,
            // --update applies to the fixed mask: asking for it without --mask chooses that mask.
            Mask = Mask ?? (Update == true ? CopalMaskRule.Fixed : d.Mask),
            // A resumed state keeps its own; a new run takes the default for its pattern and other settings.
            Upstream = Upstream ?? (fallback is null ? null : d.ResolvedUpstream),
            // A resumed state keeps its α; a new run takes the default for its pattern (ForPattern).
            DenseTarget = DenseTarget ?? (fallback is null ? null : d.ResolvedDenseTarget),
        };
        return fallback is null && pattern is not null ? options.ForPattern(pattern) : options;
    }
}

/// <summary>Starts a COPAL continual run or resumes one from a saved state, with the checks that make resuming safe.</summary>
public static class CopalRun
{
    /// <summary>
    /// A new state for <paramref name="modelDirectory"/> (the dense parent) or, with <paramref name="resumeDirectory"/>,
    /// the state saved there, checked against this parent (hash), the given options and the model's shapes.
    /// </summary>
    /// <exception cref="CopalStateException">The saved state is missing, malformed, or does not match.</exception>
    public static CopalState StartOrResume(string modelDirectory, string? resumeDirectory, CopalOptionChoices choices, SparsityPattern? pattern = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        if (resumeDirectory is { Length: 0 })
        {
            // Null starts a new state; "" would read the working folder's state files.
            throw new ArgumentException("the folder to resume from is empty; give the folder of a saved step, or null to start a new state", nameof(resumeDirectory));
        }
        ArgumentNullException.ThrowIfNull(choices);
        string hash = ParentHash.Compute(modelDirectory, cancellationToken);
        if (resumeDirectory is null)
        {
            var fresh = new CopalState(hash, modelDirectory, choices.WithDefaults(pattern: pattern));
            fresh.ParentHashedAt(modelDirectory, hash);
            return fresh;
        }
        CopalState state = CopalState.Load(resumeDirectory);
        state.EnsureCompatible(hash, modelDirectory, choices.WithDefaults(state.Options), LlamaConfig.Load(modelDirectory));
        state.ParentHashedAt(modelDirectory, hash);
        return state;
    }

    /// <summary>
    /// The <see cref="Driver.PruneRequest.ExtraFiles"/> that record the finished step (<paramref name="calibration"/>,
    /// <paramref name="pattern"/>) in <paramref name="state"/> and write both state files next to the pruned model.
    /// </summary>
    public static IReadOnlyDictionary<string, Action<string, CancellationToken>> StateFiles(CopalState state, Calibration.CalibrationSet calibration, SparsityPattern pattern)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(calibration);
        return new Dictionary<string, Action<string, CancellationToken>>
        {
            // One writer for both files: the manifest must describe exactly the tensors written with it.
            [CopalState.TensorsFileName] = (path, cancellationToken) =>
            {
                state.CompleteStep(new Driver.CalibrationReport(calibration.Sources, calibration.Samples.Count, calibration.SeqLen, calibration.Seed, calibration.Hash), pattern);
                state.Save(Path.GetDirectoryName(path)!, cancellationToken);
            },
        };
    }
}
