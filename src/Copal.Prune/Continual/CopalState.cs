using System.Globalization;
using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Prune.Driver;
using Copal.Tensors;

namespace Copal.Prune.Continual;

/// <summary>
/// COPAL's sensitivity state for a whole model: the dense parent's identity, the options, the datasets seen and one
/// <see cref="LinearState"/> per prunable linear. Persisted as <c>copal-state.safetensors</c> (per linear
/// <c>{module}.copal_columns</c> F64 [cols]; with --update or --mask obs also <c>{module}.copal_hessian_upper</c> F32
/// [cols·(cols+1)/2], the upper triangle row by row of the accumulated Hessian, on the first linear of each input
/// group; with <c>--upstream mixed</c> also <c>{module}.copal_dense_hessian_upper</c>, the same through the dense
/// upstream; with <c>--dense-target</c> above 0 also <c>{module}.copal_cross_term</c> F32 [cols·cols], the pooled cross
/// term row by row) plus the <c>copal-state.json</c> manifest. Every value is stored exactly as held in memory, so a resumed run
/// is bit-identical to an uninterrupted one.
/// The Hessians are never all in memory: a loaded state reads each from its file when its layer is pruned, and the
/// folded one is held only while its layer is pruned, then written to a spill folder (<see cref="SpillDirectory"/>)
/// until <see cref="Save"/> streams everything into the new file. Memory: one layer's Hessians; disk: the state file
/// being read, the spill and the file being written.
/// <para>
/// One object across <see cref="PruneJob"/> runs: a run folds its step into the state in place, and
/// <see cref="CopalRun.StateFiles"/> (the run's <see cref="PruneRequest.ExtraFiles"/>) records the step and saves the
/// state beside the pruned model. After a completed run that saved it, the object reads from that output folder and
/// can take the next step, exactly as <c>CopalRun.StartOrResume(model, thatFolder, choices)</c> would (that folder
/// is then its input: a later output may not be, contain or lie inside it). A run that failed or was cancelled after
/// its first fold, or that completed without saving the state, leaves the object spent: its step is partly folded
/// or lost, and every further use (<see cref="PruneJob.Run"/>, <see cref="CopalPruner.Prune"/>, <see cref="Save"/>)
/// throws an <see cref="InvalidOperationException"/> that says so; continue from the last saved step with
/// <see cref="CopalRun.StartOrResume"/>. An object serves one run at a time: a second run begun while one is in
/// flight is refused by an <see cref="InvalidOperationException"/> before it touches the state.
/// </para>
/// </summary>
public sealed partial class CopalState
{
    /// <summary>The manifest's <c>format</c> value.</summary>
    public const string FormatName = "copal-state";
    /// <summary>The manifest version this build writes; it also reads versions 2 and 3.</summary>
    public const int FormatVersion = 4;

    /// <summary>
    /// Versions this build reads: 2 (before <c>--upstream</c>: read as "pruned"), 3 (before the cross term was kept:
    /// the earlier datasets' cross term counts as zero, as it did then) and <see cref="FormatVersion"/>.
    /// </summary>
    private static readonly int[] s_readableVersions = [2, 3, FormatVersion];

    /// <summary>
    /// The most bytes a copal-state.json may hold: an entry per linear and per step is a few hundred bytes, so a
    /// 70B model's after thousands of steps is megabytes. A link to a device (/dev/zero) is refused once this much
    /// came, not read until memory runs out.
    /// </summary>
    internal const long ManifestMaxBytes = 64L << 20;
    /// <summary>The state's tensors file in a pruned model's folder.</summary>
    public const string TensorsFileName = "copal-state.safetensors";
    /// <summary>The state's manifest in a pruned model's folder.</summary>
    public const string ManifestFileName = "copal-state.json";
    /// <summary>
    /// The lock file a prune run holds in its --state folder on Windows, from before its work until the state's renames
    /// are done (<see cref="Copal.Tensors.IO.FolderLock"/>; elsewhere the folder itself is locked, with no file). Earlier
    /// versions held it everywhere, and a run they killed may have left it: it is no part of a state.
    /// </summary>
    public const string LockFileName = ".copal-state.lock";

    private readonly Dictionary<string, LinearState> _linears = new(StringComparer.Ordinal);
    private readonly List<CopalStepRecord> _datasets = [];
    private readonly HashSet<string> _spilled = new(StringComparer.Ordinal);
    private string? _source;
    private string? _spillDirectory;
    private bool _ownsSpillDirectory;
    // The temporary output folder of the PruneJob run in progress (null between runs), and the steps recorded when it
    // began; the gate makes taking it one step, so two runs begun at once cannot both have it.
    private readonly Lock _runGate = new();
    private string? _runOutput;
    private int _runStartSteps;
    // The run's output as its caller names it ("--out 'DIR'"): a spill that cannot be written is said to be its.
    private string? _runOutputShown;
    // A fold since the last Save or Load: the state in memory is ahead of every file.
    private bool _unsaved;
    // Why the state cannot be used again (null while it can).
    private string? _spent;
    // The fingerprint of the model folder whose hash was last found equal to ParentHash: a run on that folder, its
    // files unchanged, need not hash it again.
    private string? _parentCheckedAt;

    /// <summary>A new, empty state for a run from the dense parent with hash <paramref name="parentHash"/>.</summary>
    public CopalState(string parentHash, string parentModel, CopalOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(parentHash);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ParentHash = parentHash;
        ParentModel = parentModel;
        Options = options;
        CreatedUtc = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);
    }

    /// <summary>The dense parent's <see cref="Continual.ParentHash"/> (lower-case hex): a resumed run must prune a model with the same hash.</summary>
    public string ParentHash { get; }
    /// <summary>The parent folder as last given (informational: the hash, not the path, identifies the parent).</summary>
    public string ParentModel { get; private set; }
    /// <summary>The run's options, fixed for the whole run: a resume with other options is refused.</summary>
    public CopalOptions Options { get; }
    /// <summary>When the run started, UTC, ISO 8601 (kept across resumes).</summary>
    public string CreatedUtc { get; private set; }

    /// <summary>
    /// The folder the state reads its saved Hessians from: where it was loaded from or last saved to (after a completed
    /// <see cref="PruneJob"/> run, that run's output); null for a new state never saved.
    /// </summary>
    internal string? SourceDirectory => _source is null ? null : Path.GetDirectoryName(_source);

    // How a refusal names the state: by the manifest it was read from, where it was read from one.
    private string Described => SourceDirectory is string folder ? $"the COPAL state in '{Path.Combine(folder, ManifestFileName)}'" : "the COPAL state";

    /// <summary>Throws, naming the way on, when a run left this state unusable (see the class remarks).</summary>
    internal void ThrowIfSpent()
    {
        if (_spent is not null)
        {
            throw new InvalidOperationException(_spent);
        }
    }

    /// <summary>
    /// Called by <see cref="PruneJob"/> before the model loads: COPAL always prunes its dense parent, so a state given a
    /// model with another hash (another model, or a pruned one) would fold that model's statistics into the parent's
    /// and prune the wrong weights. Hashes <paramref name="modelDirectory"/> unless this object already matched it.
    /// </summary>
    /// <exception cref="CopalStateException">The folder's hash is not <see cref="ParentHash"/>.</exception>
    internal void RequireParent(string modelDirectory, string what, CancellationToken cancellationToken)
    {
        string fingerprint = Fingerprint(modelDirectory);
        if (string.Equals(fingerprint, _parentCheckedAt, StringComparison.Ordinal))
        {
            return;
        }
        RequireParentHash(Continual.ParentHash.Compute(modelDirectory, cancellationToken), modelDirectory, what);
        _parentCheckedAt = fingerprint;
    }

    /// <summary>Records that <paramref name="modelDirectory"/> was hashed just now and has <see cref="ParentHash"/>.</summary>
    internal void ParentHashedAt(string modelDirectory, string hash)
    {
        RequireParentHash(hash, modelDirectory, "the model");
        _parentCheckedAt = Fingerprint(modelDirectory);
    }

    /// <summary>
    /// What the parent hash reads, cheaply: the folder (links resolved) and each of its config.json and weight files
    /// with the file it resolves to, its length and its last write time. A file replaced, rewritten or linked
    /// elsewhere changes it; the hash is then computed again.
    /// </summary>
    private static string Fingerprint(string modelDirectory)
    {
        var folder = new DirectoryInfo(Path.GetFullPath(modelDirectory));
        string real = folder.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? folder.FullName;
        var text = new System.Text.StringBuilder(real);
        foreach (string file in Directory.GetFiles(real).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(file);
            if (name.EndsWith(".safetensors", StringComparison.Ordinal) || name.EndsWith(".json", StringComparison.Ordinal))
            {
                var info = new FileInfo(file);
                FileInfo target = info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
                text.Append('|').Append(name).Append('>').Append(target.FullName).Append(':').Append(target.Length)
                    .Append(':').Append(target.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture));
            }
        }
        return text.ToString();
    }

    private void RequireParentHash(string hash, string modelDirectory, string what)
    {
        if (!string.Equals(hash, ParentHash, StringComparison.Ordinal))
        {
            throw new CopalStateException(
                $"{Described} was made from a dense parent with hash {ParentHash} ('{ParentModel}'), but {what} '{modelDirectory}' has hash {hash}; " +
                "continue with the same dense model the run started from (COPAL always prunes the dense parent, never a pruned model)");
        }
    }

    /// <summary>Called by <see cref="CopalPruner.Prune"/> before it changes the state: it is now ahead of its files.</summary>
    internal void MarkFolding() => _unsaved = true;

    /// <summary>
    /// Called by <see cref="PruneJob"/> once its temporary output folder exists: the spill goes there, and a failure to
    /// write it names <paramref name="outputShown"/>, the output as the caller knows it, not the hidden folder.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another run has the state now: both would fold into it.</exception>
    internal void BeginRun(string outputTemp, string outputShown)
    {
        lock (_runGate)
        {
            ThrowIfSpent();
            if (_runOutput is not null)
            {
                // Refused before it touches the state, so the run in flight goes on as if this one had not been asked for.
                throw new InvalidOperationException($"this CopalState is in another PruneJob run ({_runOutputShown}): a CopalState serves one PruneJob run at a time; "
                    + "start this one after that run completes, or from a saved step with CopalRun.StartOrResume(model, resumeFolder, choices)");
            }
            SpillDirectory = Path.Combine(outputTemp, ".copal-spill");
            _runOutput = Path.GetFullPath(outputTemp);
            _runOutputShown = outputShown;
            _runStartSteps = _datasets.Count;
        }
    }

    /// <summary>
    /// Called by <see cref="PruneJob"/> after the extra files, before the output is moved into place: a step they did
    /// not save is lost (its Hessians are in the spill, which must not land in the output), so the state is spent.
    /// </summary>
    internal void BeforeCommit()
    {
        if (_unsaved)
        {
            DiscardSpill();
            _spent = "this CopalState's PruneJob run did not save its step (its PruneRequest.ExtraFiles held no CopalRun.StateFiles), so its folded sensitivities "
                + "are in no file and it cannot be used again; save every step with CopalRun.StateFiles, and continue from a saved step with "
                + "CopalRun.StartOrResume(model, resumeFolder, choices)";
        }
    }

    /// <summary>
    /// Called by <see cref="PruneJob"/> when its run ends. Completed: a state saved into the output now reads from
    /// <paramref name="outDirectory"/>, where the output was moved. Otherwise a state that was changed (a fold, a
    /// recorded step or a save into the discarded output) is spent.
    /// </summary>
    internal void EndRun(string outDirectory, bool completed)
    {
        lock (_runGate)
        {
            EndRunLocked(outDirectory, completed);
        }
    }

    private void EndRunLocked(string outDirectory, bool completed)
    {
        string temp = _runOutput!;
        _runOutput = null;
        _runOutputShown = null;
        bool savedInOutput = _source is not null && string.Equals(Path.GetDirectoryName(_source), temp, StringComparison.Ordinal);
        if (completed)
        {
            if (savedInOutput)
            {
                _source = Path.Combine(outDirectory, TensorsFileName);
            }
        }
        else
        {
            if (_unsaved || savedInOutput || _datasets.Count != _runStartSteps)
            {
                _spent = "this CopalState's PruneJob run did not complete (failed or cancelled), so its step is partly folded in and it cannot be used again: "
                    + "a CopalState serves one PruneJob run at a time and goes on only after a completed one; continue from the last saved step with "
                    + "CopalRun.StartOrResume(model, resumeFolder, choices)";
            }
            DiscardSpill();
        }
        // The spill was in the run's temporary folder, gone now; a later spill goes where the next run says.
        _spillDirectory = null;
        _ownsSpillDirectory = false;
    }

    /// <summary>The datasets folded in so far, in order.</summary>
    public IReadOnlyList<CopalStepRecord> Datasets => _datasets;

    /// <summary>The per-linear states by weight name.</summary>
    public IReadOnlyDictionary<string, LinearState> Linears => _linears;

    /// <summary>The state of <paramref name="name"/>, created empty on first use.</summary>
    internal LinearState GetOrAdd(string name, int rows, int cols)
    {
        if (_linears.TryGetValue(name, out LinearState? s))
        {
            if (s.Rows != rows || s.Cols != cols)
            {
                throw new CopalStateException($"COPAL state for '{name}' is [{s.Rows}, {s.Cols}], the model's weight is [{rows}, {cols}]");
            }
            return s;
        }
        s = new LinearState(name, rows, cols);
        _linears.Add(name, s);
        return s;
    }

    /// <summary>
    /// The earlier step that folded in exactly the calibration windows hashed as <paramref name="calibrationHash"/>
    /// (<see cref="CopalStepRecord.CalibrationHash"/>), or null. Folding the same windows again would count that
    /// dataset twice, silently: a resumed run refuses it.
    /// </summary>
    public CopalStepRecord? StepWithCalibration(string calibrationHash) => _datasets.FirstOrDefault(d => d.CalibrationHash == calibrationHash);

    /// <summary>Records that the dataset with <paramref name="calibration"/> has been folded in.</summary>
    public void CompleteStep(CalibrationReport calibration, SparsityPattern pattern)
    {
        ArgumentNullException.ThrowIfNull(calibration);
        _datasets.Add(new CopalStepRecord(_datasets.Count + 1, calibration.Sources, calibration.Hash, calibration.NSamples, calibration.SeqLen,
            calibration.Seed, pattern.ToString(), DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture)));
    }

    /// <summary>What the Hessian part of the state holds: "none" or "upper" (the full Hessians as upper triangles, f32).</summary>
    public string HessianStorage => _linears.Values.Any(l => l.HasHessian) ? "upper" : "none";

    /// <summary>
    /// Where folded Hessians wait, one file per input group, between their layer and <see cref="Save"/> (the prune's
    /// temporary output folder when run by <see cref="Driver.PruneJob"/>; by default a new folder in the system's
    /// temporary folder). Deleted by <see cref="Save"/> and <see cref="DiscardSpill"/>.
    /// </summary>
    public string? SpillDirectory
    {
        get => _spillDirectory;
        set
        {
            if (_spilled.Count > 0)
            {
                throw new InvalidOperationException("the COPAL state already spilled Hessians; its spill folder cannot change before Save");
            }
            _spillDirectory = value;
            _ownsSpillDirectory = false;
        }
    }

    /// <summary>
    /// The token weight of the datasets folded so far for <see cref="SensitivityAccumulation.Pooled"/>:
    /// Σ_k γ^(n−1−k)·tokens_k over the n recorded steps (tokens_k = nsamples·seqlen).
    /// </summary>
    public double PooledTokenWeight()
    {
        double w = 0;
        foreach (CopalStepRecord d in _datasets)
        {
            w = (Options.Decay * w) + ((double)d.NSamples * d.SeqLen);
        }
        return w;
    }


    /// <summary>
    /// Checks that this state can continue a run on the dense parent <paramref name="parentHash"/> with
    /// <paramref name="options"/> and the model <paramref name="config"/>.
    /// </summary>
    /// <exception cref="CopalStateException">Different parent, options or shapes; the message names both values.</exception>
    public void EnsureCompatible(string parentHash, string parentModel, CopalOptions options, LlamaConfig config)
    {
        RequireParentHash(parentHash, parentModel, "the model");
        Check("sensitivity", Options.Sensitivity.ToString().ToLowerInvariant(), options.Sensitivity.ToString().ToLowerInvariant());
        Check("accumulate", Options.Accumulate.ToString().ToLowerInvariant(), options.Accumulate.ToString().ToLowerInvariant());
        Check("decay", Options.Decay.ToString("R", CultureInfo.InvariantCulture), options.Decay.ToString("R", CultureInfo.InvariantCulture));
        Check("update", Options.Update ? "on" : "off", options.Update ? "on" : "off");
        Check("mask", CopalOptions.MaskName(Options.Mask), CopalOptions.MaskName(options.Mask));
        Check("upstream", CopalOptions.UpstreamName(Options.ResolvedUpstream), CopalOptions.UpstreamName(options.ResolvedUpstream));
        Check("dense-target", Options.ResolvedDenseTarget.ToString("R", CultureInfo.InvariantCulture), options.ResolvedDenseTarget.ToString("R", CultureInfo.InvariantCulture));
        // Steps run with --layers keep the state of those layers only; each of them must be whole and of this model.
        IReadOnlySet<int> covered = CoveredLayers();
        foreach (int layer in covered)
        {
            if (layer >= config.NumLayers)
            {
                throw new CopalStateException($"{Described} has layer {layer}'s linears, but the model has {Plural.Of(config.NumLayers, "layer")}; it does not belong to this model");
            }
            foreach (LinearId id in LinearIds.All)
            {
                string name = LlamaTensorNames.Linear(layer, id);
                (int rows, int cols) = LlamaWeights.LinearShape(config, id);
                if (!_linears.TryGetValue(name, out LinearState? l))
                {
                    throw new CopalStateException($"{Described} has no entry for '{name}' (it covers {_linears.Count} linears); it does not belong to this model");
                }
                if (l.Rows != rows || l.Cols != cols)
                {
                    throw new CopalStateException($"{Described} has '{name}' as [{l.Rows}, {l.Cols}], the model's weight is [{rows}, {cols}]");
                }
            }
        }
        if (covered.Count == 0 || _linears.Count != covered.Count * LinearIds.All.Count)
        {
            throw new CopalStateException($"{Described} has {_linears.Count} linears, where {Plural.Of(covered.Count, "whole layer")} of the model have {covered.Count * LinearIds.All.Count}; it does not belong to this model");
        }
        ParentModel = parentModel;
    }

    /// <summary>The decoder layers whose linears the state holds: those its steps pruned (every layer, unless they ran with --layers).</summary>
    public IReadOnlySet<int> CoveredLayers() =>
        _linears.Keys.Select(n => LlamaTensorNames.TryParseLinear(n, out int layer, out _) ? layer : -1).Where(l => l >= 0).ToHashSet();

    /// <summary>
    /// Refuses a step over other decoder layers than the earlier steps pruned (<paramref name="layers"/>, every one of
    /// <paramref name="layerCount"/> where null): a linear they did not see has no sensitivity of theirs for this
    /// dataset's to join, and one they saw that this step skips would fall a dataset behind.
    /// </summary>
    /// <exception cref="PruningOptionException">The layers differ; the message names both sets.</exception>
    public void RequireSameLayers(IReadOnlySet<int>? layers, int layerCount)
    {
        if (_datasets.Count == 0)
        {
            return;
        }
        IReadOnlySet<int> covered = CoveredLayers();
        IReadOnlySet<int> given = layers ?? Enumerable.Range(0, layerCount).ToHashSet();
        if (!covered.SetEquals(given))
        {
            // Without --layers the step would prune every layer: said so, rather than as a value nobody typed.
            throw new PruningOptionException("layers", layers is null ? $"none (every layer, {PruneOptions.FormatLayers(given)})" : PruneOptions.FormatLayers(given),
                $"{PruneOptions.FormatLayers(covered)}, the layers the COPAL state's {Plural.Of(_datasets.Count, "earlier step")} pruned (every step of a continual run prunes the same layers)");
        }
    }

    private void Check(string option, string stored, string given)
    {
        if (stored != given)
        {
            throw new CopalStateException($"--{option}: {Described} was built with '{stored}' (a continual run keeps its options: omit --{option} to use the state's), got '{given}'")
            {
                Option = option,
            };
        }
    }
}
