using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.IO;
using Copal.Tensors.Numerics;
using Copal.Tensors.Safetensors;

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
/// <see cref="CopalRun.StartOrResume"/>. An object serves one run at a time.
/// </para>
/// </summary>
public sealed class CopalState
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
    /// <summary>The state's tensors file in a pruned model's folder.</summary>
    public const string TensorsFileName = "copal-state.safetensors";
    /// <summary>The state's manifest in a pruned model's folder.</summary>
    public const string ManifestFileName = "copal-state.json";

    private readonly Dictionary<string, LinearState> _linears = new(StringComparer.Ordinal);
    private readonly List<CopalStepRecord> _datasets = [];
    private readonly HashSet<string> _spilled = new(StringComparer.Ordinal);
    private string? _source;
    private string? _spillDirectory;
    private bool _ownsSpillDirectory;
    // The temporary output folder of the PruneJob run in progress, and the steps recorded when it began.
    private string? _runOutput;
    private int _runStartSteps;
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
                $"the COPAL state was made from a dense parent with hash {ParentHash} ('{ParentModel}'), but {what} '{modelDirectory}' has hash {hash}; " +
                "continue with the same dense model the run started from (COPAL always prunes the dense parent, never a pruned model)");
        }
    }

    /// <summary>Called by <see cref="CopalPruner.Prune"/> before it changes the state: it is now ahead of its files.</summary>
    internal void MarkFolding() => _unsaved = true;

    /// <summary>Called by <see cref="PruneJob"/> once its temporary output folder exists: the spill goes there.</summary>
    internal void BeginRun(string outputTemp)
    {
        ThrowIfSpent();
        SpillDirectory = Path.Combine(outputTemp, ".copal-spill");
        _runOutput = Path.GetFullPath(outputTemp);
        _runStartSteps = _datasets.Count;
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
        string temp = _runOutput!;
        _runOutput = null;
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

    /// <summary>The accumulated Hessian of <paramref name="name"/> as a full [cols, cols] matrix (a copy), from memory, the spill or the state file.</summary>
    /// <exception cref="CopalStateException">The linear keeps no Hessian.</exception>
    public float[] ReadHessian(string name)
    {
        LinearState l = _linears[name];
        return l.Hessian is not null ? (float[])l.Hessian.Clone() : LoadHessian(l, keep: false);
    }

    /// <summary>
    /// Which of a linear's accumulated [cols, cols] matrices: the main Gram, the one through the dense upstream, or the
    /// cross term of the dense target. The two Grams are symmetric and stored as upper triangles; the cross term whole.
    /// </summary>
    internal enum HessianSlot
    {
        Main,
        DenseUpstream,
        CrossTerm,
    }

    private static readonly HessianSlot[] s_slots = [HessianSlot.Main, HessianSlot.DenseUpstream, HessianSlot.CrossTerm];

    private static float[]? Held(LinearState l, HessianSlot slot) => slot switch
    {
        HessianSlot.Main => l.Hessian,
        HessianSlot.DenseUpstream => l.DenseUpstreamHessian,
        _ => l.CrossTerm,
    };

    private static void Hold(LinearState l, HessianSlot slot, float[]? matrix)
    {
        switch (slot)
        {
            case HessianSlot.Main:
                l.Hessian = matrix;
                break;
            case HessianSlot.DenseUpstream:
                l.DenseUpstreamHessian = matrix;
                break;
            default:
                l.CrossTerm = matrix;
                break;
        }
    }

    private static bool Has(LinearState l, HessianSlot slot) => slot switch
    {
        HessianSlot.Main => l.HasHessian,
        HessianSlot.DenseUpstream => l.HasDenseUpstreamHessian,
        _ => l.HasCrossTerm,
    };

    // How a slot is stored: the symmetric Grams as upper triangles, the cross term whole.
    private static long StoredLength(HessianSlot slot, int cols) => slot == HessianSlot.CrossTerm ? (long)cols * cols : PackedSymmetric.Length(cols);

    private static float[] Packed(HessianSlot slot, float[] full, int cols)
    {
        if (slot == HessianSlot.CrossTerm)
        {
            return full;
        }
        var packed = new float[PackedSymmetric.Length(cols)];
        PackedSymmetric.Pack(full, packed, cols);
        return packed;
    }

    private static void Unpack(HessianSlot slot, ReadOnlySpan<float> stored, float[] full, int cols)
    {
        if (slot == HessianSlot.CrossTerm)
        {
            stored.CopyTo(full);
        }
        else
        {
            PackedSymmetric.Unpack(stored, full, cols);
        }
    }

    private static string SlotDescription(HessianSlot slot) => slot switch
    {
        HessianSlot.Main => "Hessian",
        HessianSlot.DenseUpstream => "dense-upstream Hessian",
        _ => "dense-target cross term",
    };

    /// <summary>Called when a linear of <paramref name="layer"/> is about to be pruned: the other layers' Hessians leave memory for the spill.</summary>
    internal void EnterLayer(int layer)
    {
        string prefix = string.Create(CultureInfo.InvariantCulture, $"model.layers.{layer}.");
        foreach (LinearState l in _linears.Values)
        {
            foreach (HessianSlot slot in s_slots)
            {
                if (Held(l, slot) is not null && !l.Name.StartsWith(prefix, StringComparison.Ordinal))
                {
                    Spill(l, slot);
                }
            }
        }
    }

    /// <summary>
    /// Matrices at least this large go to the spill as soon as <see cref="Release"/> says they are done with (smaller
    /// ones wait for the next layer: writing them early would save no memory worth a file).
    /// </summary>
    internal long EarlySpillBytes { get; set; } = DefaultEarlySpillBytes;

    /// <summary>The default of <see cref="EarlySpillBytes"/>: 64 MiB.</summary>
    internal const long DefaultEarlySpillBytes = 64L << 20;

    /// <summary>
    /// Called when every linear of <paramref name="name"/>'s input group has been pruned in this step: its Hessians
    /// (both slots, or <paramref name="only"/> one) leave memory for the spill now rather than when the next layer
    /// starts (at LLaMA-7B a layer's are 0.7 GB per slot, most of it down_proj's, held while down_proj was swept).
    /// </summary>
    internal void Release(string name, HessianSlot? only = null)
    {
        LinearState l = _linears[name];
        if ((long)l.Cols * l.Cols * sizeof(float) < EarlySpillBytes)
        {
            return;
        }
        foreach (HessianSlot slot in s_slots)
        {
            if ((only is null || only == slot) && Held(l, slot) is not null)
            {
                Spill(l, slot);
            }
        }
    }

    /// <summary>The accumulated Hessian of <paramref name="l"/> in memory, read from the spill or the state file if needed (and then held until its layer is done).</summary>
    internal float[] LoadHessian(LinearState l, bool keep = true, HessianSlot slot = HessianSlot.Main)
    {
        if (Held(l, slot) is float[] held)
        {
            return held;
        }
        if (!Has(l, slot))
        {
            throw new CopalStateException($"the COPAL state keeps no accumulated {SlotDescription(slot)} for '{l.Name}'");
        }
        var full = new float[(long)l.Cols * l.Cols];
        if (_spilled.Contains(SpillKey(l.Name, slot)))
        {
            using var f = new FileStream(SpillPath(l.Name, slot), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            var stored = new float[StoredLength(slot, l.Cols)];
            f.ReadExactly(MemoryMarshal.AsBytes(stored.AsSpan()));
            Unpack(slot, stored, full, l.Cols);
        }
        else
        {
            string path = _source ?? throw new CopalStateException($"the COPAL state's {SlotDescription(slot)} of '{l.Name}' has no file to be read from");
            using SafetensorsFile file = SafetensorsFile.Open(path);
            TensorView t = Require(file, path, HessianName(l.Name, slot), DType.F32, [StoredLength(slot, l.Cols)]);
            Unpack(slot, t.AsSpan<float>(), full, l.Cols);
        }
        if (keep)
        {
            Hold(l, slot, full);
        }
        return full;
    }

    /// <summary>Deletes the spill folder (if this state made it) and forgets what was spilled: for a run that is abandoned.</summary>
    public void DiscardSpill()
    {
        _spilled.Clear();
        if (_spillDirectory is not null && Directory.Exists(_spillDirectory))
        {
            Directory.Delete(_spillDirectory, recursive: true);
        }
        if (_ownsSpillDirectory)
        {
            _spillDirectory = null;
            _ownsSpillDirectory = false;
        }
    }

    private void Spill(LinearState l, HessianSlot slot)
    {
        if (_spillDirectory is null)
        {
            _spillDirectory = Directory.CreateTempSubdirectory("copal-state-spill-").FullName;
            _ownsSpillDirectory = true;
        }
        Directory.CreateDirectory(_spillDirectory);
        float[] packed = Packed(slot, Held(l, slot)!, l.Cols);
        using (var f = new FileStream(SpillPath(l.Name, slot), FileMode.Create, FileAccess.Write, FileShare.None))
        {
            f.Write(MemoryMarshal.AsBytes(packed.AsSpan()));
        }
        _spilled.Add(SpillKey(l.Name, slot));
        Hold(l, slot, null);
    }

    private static string SpillKey(string name, HessianSlot slot) => slot switch
    {
        HessianSlot.Main => Module(name),
        HessianSlot.DenseUpstream => Module(name) + ".dense_upstream",
        _ => Module(name) + ".cross_term",
    };

    private string SpillPath(string name, HessianSlot slot) => Path.Combine(_spillDirectory!, SpillKey(name, slot) + ".f32");

    /// <summary>The manifest as it would be written now.</summary>
    public CopalStateManifest Manifest() => new(
        FormatName, FormatVersion, ParentHash, Continual.ParentHash.Scheme, ParentModel,
        new CopalManifestOptions(Options.Sensitivity.ToString().ToLowerInvariant(), Options.Accumulate.ToString().ToLowerInvariant(), Options.Decay, Options.Update, Options.PercentDamp,
            CopalOptions.MaskName(Options.Mask), CopalOptions.UpstreamName(Options.ResolvedUpstream), Options.ResolvedDenseTarget),
        _datasets.ToList(), HessianStorage,
        _linears.Values.Select(l => new CopalLinearRecord(l.Name, l.Rows, l.Cols)).ToList(),
        CreatedUtc, DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));

    /// <summary>
    /// Writes both state files into <paramref name="directory"/> (created if needed): both are written under temporary
    /// names and renamed only when both are complete, so a failure while writing (a full disk) leaves the folder's
    /// previous state whole; only a kill between the two renames could pair a new tensor file with an old manifest. The Hessians are streamed one at a time from memory, the
    /// spill or the state file they were loaded from; afterwards the spill is deleted and the state reads its Hessians
    /// from the new file.
    /// </summary>
    /// <remarks>
    /// The folder must be apart from the state's inputs: not the dense parent model (<see cref="ParentModel"/>) nor the
    /// folder the state reads from, nor inside either; and it must not hold a model (config.json or a *.safetensors
    /// other than <see cref="TensorsFileName"/>), except the output of the <see cref="PruneJob"/> run the state is in,
    /// where <see cref="CopalRun.StateFiles"/> saves it beside the pruned model it belongs to.
    /// </remarks>
    /// <exception cref="IOException">The folder is one of those, or a file.</exception>
    /// <exception cref="InvalidOperationException">A run left the state spent (see the class remarks).</exception>
    public void Save(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ThrowIfSpent();
        RequireSaveFolder(directory);
        WriteBoth(directory, (tensorsPath, manifestPath) =>
        {
            WriteTensors(tensorsPath);
            File.WriteAllText(manifestPath, JsonSerializer.Serialize(Manifest(), PruneJob.ReportJsonOptions));
        });
        DiscardSpill();
        _source = Path.GetFullPath(Path.Combine(directory, TensorsFileName));
        _unsaved = false;
    }

    private const string SaveDirectoryName = "CopalState.Save directory";

    private void RequireSaveFolder(string directory)
    {
        string real = RealPath.Resolve(directory);
        if (File.Exists(real))
        {
            throw new IOException($"{SaveDirectoryName} '{directory}' is a file; expected a folder (it receives {TensorsFileName} and {ManifestFileName})");
        }
        if (!string.IsNullOrEmpty(ParentModel))
        {
            PathGuard.RequireOutside(directory, SaveDirectoryName, ParentModel, "the state's dense parent model");
        }
        if (SourceDirectory is string source)
        {
            PathGuard.RequireOutside(directory, SaveDirectoryName, source, "the folder the COPAL state reads from");
        }
        bool runOutput = _runOutput is not null && string.Equals(RealPath.Resolve(_runOutput), real, RealPath.Comparison);
        if (!runOutput && Directory.Exists(real))
        {
            string? model = File.Exists(Path.Combine(real, "config.json")) ? "config.json"
                : Directory.EnumerateFiles(real, "*.safetensors").Select(Path.GetFileName).Order(StringComparer.Ordinal).FirstOrDefault(f => f != TensorsFileName);
            if (model is not null)
            {
                throw new IOException($"{SaveDirectoryName} '{directory}' holds a model ({model}); expected a folder of the state's own "
                    + "(a state is saved beside a pruned model only by the PruneJob run that made it, through CopalRun.StateFiles)");
            }
        }
    }

    private void WriteTensors(string tensorsPath)
    {
        var ordered = _linears.Values.OrderBy(l => l.Name, StringComparer.Ordinal).ToList();
        var specs = new List<TensorSpec>();
        foreach (LinearState l in ordered)
        {
            specs.Add(new TensorSpec(ColumnsName(l.Name), DType.F64, [l.Cols]));
            foreach (HessianSlot slot in s_slots.Where(slot => Has(l, slot)))
            {
                specs.Add(new TensorSpec(HessianName(l.Name, slot), DType.F32, [StoredLength(slot, l.Cols)]));
            }
        }
        var meta = new Dictionary<string, string> { ["format"] = FormatName, ["format_version"] = FormatVersion.ToString(CultureInfo.InvariantCulture), ["parent_hash"] = ParentHash };
        bool readsSource = ordered.Any(l => s_slots.Any(slot => Has(l, slot) && Held(l, slot) is null && !_spilled.Contains(SpillKey(l.Name, slot))));
        using SafetensorsFile? source = _source is not null && readsSource ? SafetensorsFile.Open(_source) : null;
        using SafetensorsWriter writer = SafetensorsWriter.Create(tensorsPath, specs, meta);
        foreach (LinearState l in ordered)
        {
            writer.Write(ColumnsName(l.Name), MemoryMarshal.AsBytes(l.Columns.AsSpan()));
            foreach (HessianSlot slot in s_slots.Where(slot => Has(l, slot)))
            {
                WriteHessian(writer, l, slot, source);
            }
        }
        writer.Commit();
    }

    /// <summary>
    /// Copies both state files from <paramref name="fromDirectory"/> to <paramref name="toDirectory"/> (created if
    /// needed). Both are copied under temporary names first and renamed only when both are complete, so a failure
    /// (a full disk) leaves the folder's previous state whole; only a kill between the two renames could pair a new
    /// tensor file with an old manifest.
    /// </summary>
    public static void Copy(string fromDirectory, string toDirectory)
    {
        ArgumentException.ThrowIfNullOrEmpty(fromDirectory);
        WriteBoth(toDirectory, (tensorsPath, manifestPath) =>
        {
            File.Copy(Path.Combine(fromDirectory, TensorsFileName), tensorsPath, overwrite: true);
            File.Copy(Path.Combine(fromDirectory, ManifestFileName), manifestPath, overwrite: true);
        });
    }

    /// <summary>
    /// Writes both state files into <paramref name="directory"/> (created if needed) as <paramref name="write"/> makes
    /// them under temporary names (tensors, manifest), then renames both into place; a failure on the way deletes the
    /// temporary files and leaves the folder's previous state as it was. Save and Copy both write this way.
    /// </summary>
    private static void WriteBoth(string directory, Action<string, string> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        Directory.CreateDirectory(directory);
        string[] names = [TensorsFileName, ManifestFileName];
        string[] temps = [.. names.Select(n => TemporaryNames.Sibling(Path.Combine(directory, n), "tmp"))];
        try
        {
            write(temps[0], temps[1]);
            for (int i = 0; i < names.Length; i++)
            {
                File.Move(temps[i], Path.Combine(directory, names[i]), overwrite: true);
            }
        }
        finally
        {
            foreach (string temp in temps)
            {
                File.Delete(temp);
            }
        }
    }

    /// <summary>Whether <paramref name="directory"/> holds either state file.</summary>
    public static bool IsIn(string directory) =>
        File.Exists(Path.Combine(directory, TensorsFileName)) || File.Exists(Path.Combine(directory, ManifestFileName));

    private unsafe void WriteHessian(SafetensorsWriter writer, LinearState l, HessianSlot slot, SafetensorsFile? source)
    {
        string name = HessianName(l.Name, slot);
        const int chunk = 1 << 24;
        if (Held(l, slot) is float[] held)
        {
            float[] packed = Packed(slot, held, l.Cols);
            ReadOnlySpan<byte> bytes = MemoryMarshal.AsBytes(packed.AsSpan());
            for (int i = 0; i < bytes.Length; i += chunk)
            {
                writer.Write(name, bytes.Slice(i, Math.Min(chunk, bytes.Length - i)));
            }
        }
        else if (_spilled.Contains(SpillKey(l.Name, slot)))
        {
            using var f = new FileStream(SpillPath(l.Name, slot), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
            var buffer = new byte[chunk];
            int n;
            while ((n = f.Read(buffer, 0, buffer.Length)) > 0)
            {
                writer.Write(name, buffer.AsSpan(0, n));
            }
        }
        else
        {
            TensorView t = Require(source!, _source!, name, DType.F32, [StoredLength(slot, l.Cols)]);
            for (long i = 0; i < t.ByteLength; i += chunk)
            {
                writer.Write(name, new ReadOnlySpan<byte>(t.Data + i, (int)Math.Min(chunk, t.ByteLength - i)));
            }
        }
    }

    /// <summary>Reads a state written by <see cref="Save"/> from <paramref name="directory"/> (a pruned model folder or a state folder).</summary>
    /// <exception cref="CopalStateException">A file is missing or malformed, or the format version is not <see cref="FormatVersion"/>.</exception>
    public static CopalState Load(string directory)
    {
        string manifestPath = Path.Combine(directory, ManifestFileName);
        string tensorsPath = Path.Combine(directory, TensorsFileName);
        if (!Directory.Exists(directory))
        {
            throw new CopalStateException($"--resume folder '{directory}' does not exist");
        }
        foreach (string f in new[] { manifestPath, tensorsPath })
        {
            if (!File.Exists(f))
            {
                throw new CopalStateException($"--resume folder '{directory}' has no {Path.GetFileName(f)} (expected {ManifestFileName} and {TensorsFileName}, written by `copal prune --method copal`)");
            }
        }
        CopalStateManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<CopalStateManifest>(File.ReadAllText(manifestPath), PruneJob.ReportJsonOptions)
                ?? throw new CopalStateException($"'{manifestPath}' is empty");
        }
        catch (JsonException e)
        {
            throw new CopalStateException($"'{manifestPath}' is not a valid COPAL state manifest: {e.Message}");
        }
        if (manifest.Format != FormatName)
        {
            throw new CopalStateException($"'{manifestPath}' has format '{manifest.Format}', expected '{FormatName}'");
        }
        if (!s_readableVersions.Contains(manifest.FormatVersion))
        {
            throw new CopalStateException($"'{manifestPath}' has format version {manifest.FormatVersion}, this copal reads versions {string.Join(", ", s_readableVersions)}");
        }
        if (manifest.Datasets is null || manifest.Linears is null || manifest.Options is null || string.IsNullOrEmpty(manifest.ParentHash))
        {
            throw new CopalStateException($"'{manifestPath}' lacks one of parent_hash, options, datasets, linears");
        }
        var options = new CopalOptions(CopalOptions.ParseSensitivity(manifest.Options.Sensitivity), CopalOptions.ParseAccumulation(manifest.Options.Accumulate),
            manifest.Options.Decay, manifest.Options.Update, CopalOptions.ParseMask(manifest.Options.Mask ?? "fixed"))
        {
            PercentDamp = manifest.Options.PercentDamp,
            Upstream = CopalOptions.ParseUpstream(manifest.Options.Upstream ?? "pruned"),
            DenseTarget = manifest.Options.DenseTarget,
        };
        var state = new CopalState(manifest.ParentHash, manifest.ParentModel, options) { CreatedUtc = manifest.CreatedUtc };
        state._datasets.AddRange(manifest.Datasets);
        int steps = manifest.Datasets.Count;
        using SafetensorsFile file = SafetensorsFile.Open(tensorsPath);
        foreach (CopalLinearRecord rec in manifest.Linears)
        {
            LinearState l = state.GetOrAdd(rec.Name, rec.Rows, rec.Cols);
            TensorView columns = Require(file, tensorsPath, ColumnsName(rec.Name), DType.F64, [rec.Cols]);
            MemoryMarshal.Cast<byte, double>(columns.Bytes).CopyTo(l.Columns);
            l.Steps = steps;
            if (file.TryGet(HessianName(rec.Name, HessianSlot.Main), out _))
            {
                // Checked now, read when its layer is pruned.
                Require(file, tensorsPath, HessianName(rec.Name, HessianSlot.Main), DType.F32, [PackedSymmetric.Length(rec.Cols)]);
                l.HasHessian = true;
                l.HessianSteps = steps;
            }
            if (file.TryGet(HessianName(rec.Name, HessianSlot.DenseUpstream), out _))
            {
                Require(file, tensorsPath, HessianName(rec.Name, HessianSlot.DenseUpstream), DType.F32, [PackedSymmetric.Length(rec.Cols)]);
                l.HasDenseUpstreamHessian = true;
            }
            if (file.TryGet(HessianName(rec.Name, HessianSlot.CrossTerm), out _))
            {
                Require(file, tensorsPath, HessianName(rec.Name, HessianSlot.CrossTerm), DType.F32, [StoredLength(HessianSlot.CrossTerm, rec.Cols)]);
                l.HasCrossTerm = true;
                l.CrossTermSteps = steps;
            }
        }
        state._source = Path.GetFullPath(tensorsPath);
        return state;
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
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            foreach (LinearId id in LinearIds.All)
            {
                string name = LlamaTensorNames.Linear(layer, id);
                (int rows, int cols) = LlamaWeights.LinearShape(config, id);
                if (!_linears.TryGetValue(name, out LinearState? l))
                {
                    throw new CopalStateException($"the COPAL state has no entry for '{name}' (it covers {_linears.Count} linears); it does not belong to this model");
                }
                if (l.Rows != rows || l.Cols != cols)
                {
                    throw new CopalStateException($"the COPAL state for '{name}' is [{l.Rows}, {l.Cols}], the model's weight is [{rows}, {cols}]");
                }
            }
        }
        if (_linears.Count != config.NumLayers * LinearIds.All.Count)
        {
            throw new CopalStateException($"the COPAL state has {_linears.Count} linears, the model {config.NumLayers * LinearIds.All.Count}");
        }
        ParentModel = parentModel;
    }

    private static void Check(string option, string stored, string given)
    {
        if (stored != given)
        {
            throw new CopalStateException($"option --{option} is '{given}', but the COPAL state was built with '{stored}'; a continual run keeps its options (omit --{option} to use the state's)");
        }
    }

    private static TensorView Require(SafetensorsFile file, string path, string name, DType dtype, long[] shape)
    {
        if (!file.TryGet(name, out TensorView t))
        {
            throw new CopalStateException($"'{path}' has no tensor '{name}'");
        }
        if (t.DType != dtype || !t.Shape.SequenceEqual(shape))
        {
            throw new CopalStateException($"tensor '{name}' in '{path}' is {t.DType} [{string.Join(", ", t.Shape)}], expected {dtype} [{string.Join(", ", shape)}]");
        }
        return t;
    }

    private static string Module(string weightName) => weightName.EndsWith(".weight", StringComparison.Ordinal) ? weightName[..^".weight".Length] : weightName;
    private static string ColumnsName(string weightName) => Module(weightName) + ".copal_columns";
    private static string HessianName(string weightName, HessianSlot slot) => Module(weightName) + slot switch
    {
        HessianSlot.Main => ".copal_hessian_upper",
        HessianSlot.DenseUpstream => ".copal_dense_hessian_upper",
        _ => ".copal_cross_term",
    };
}
