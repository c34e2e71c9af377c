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
/// <c>{module}.copal_columns</c> F64 [cols]; with --update also <c>{module}.copal_hessian</c> F32 [cols, cols] or
/// <c>{module}.copal_hessian_diag</c> F32 [cols] on the first linear of each input group; also with --mask obs) plus the
/// <c>copal-state.json</c> manifest. Every value is stored exactly as held in memory, so a resumed run is
/// bit-identical to an uninterrupted one.
/// </summary>
public sealed class CopalState
{
    public const string FormatName = "copal-state";
    public const int FormatVersion = 1;
    public const string TensorsFileName = "copal-state.safetensors";
    public const string ManifestFileName = "copal-state.json";

    private readonly Dictionary<string, LinearState> _linears = new(StringComparer.Ordinal);
    private readonly List<CopalStepRecord> _datasets = [];

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

    public string ParentHash { get; }
    public string ParentModel { get; private set; }
    public CopalOptions Options { get; }
    public string CreatedUtc { get; private set; }

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

    /// <summary>What the Hessian part of the state holds: "none", "full" or "diagonal".</summary>
    public string HessianStorage => _linears.Values.FirstOrDefault(l => l.Hessian is not null) is { } l ? (l.HessianIsDiagonal ? "diagonal" : "full") : "none";

    /// <summary>The manifest as it would be written now.</summary>
    public CopalStateManifest Manifest() => new(
        FormatName, FormatVersion, ParentHash, Continual.ParentHash.Scheme, ParentModel,
        new CopalManifestOptions(Options.Sensitivity.ToString().ToLowerInvariant(), Options.Accumulate.ToString().ToLowerInvariant(), Options.Decay, Options.Update, Options.PercentDamp,
            CopalOptions.MaskName(Options.Mask)),
        _datasets.ToList(), HessianStorage,
        _linears.Values.Select(l => new CopalLinearRecord(l.Name, l.Rows, l.Cols)).ToList(),
        CreatedUtc, DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));

    /// <summary>Writes both state files into <paramref name="directory"/> (created if needed); each file is replaced atomically.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var ordered = _linears.Values.OrderBy(l => l.Name, StringComparer.Ordinal).ToList();
        var specs = new List<TensorSpec>();
        foreach (LinearState l in ordered)
        {
            specs.Add(new TensorSpec(ColumnsName(l.Name), DType.F64, [l.Cols]));
            if (l.Hessian is not null)
            {
                specs.Add(l.HessianIsDiagonal
                    ? new TensorSpec(HessianDiagName(l.Name), DType.F32, [l.Cols])
                    : new TensorSpec(HessianName(l.Name), DType.F32, [l.Cols, l.Cols]));
            }
        }
        var meta = new Dictionary<string, string> { ["format"] = FormatName, ["format_version"] = FormatVersion.ToString(CultureInfo.InvariantCulture), ["parent_hash"] = ParentHash };
        using (SafetensorsWriter writer = SafetensorsWriter.Create(Path.Combine(directory, TensorsFileName), specs, meta))
        {
            foreach (LinearState l in ordered)
            {
                writer.Write(ColumnsName(l.Name), MemoryMarshal.AsBytes(l.Columns.AsSpan()));
                if (l.Hessian is not null)
                {
                    string name = l.HessianIsDiagonal ? HessianDiagName(l.Name) : HessianName(l.Name);
                    const int chunk = 1 << 26;
                    for (long i = 0; i < l.Hessian.LongLength; i += chunk)
                    {
                        int n = (int)Math.Min(chunk, l.Hessian.LongLength - i);
                        writer.Write(name, MemoryMarshal.AsBytes(l.Hessian.AsSpan((int)i, n)));
                    }
                }
            }
            writer.Commit();
        }
        string manifestPath = Path.Combine(directory, ManifestFileName);
        string temp = TemporaryNames.Sibling(manifestPath, "tmp");
        try
        {
            File.WriteAllText(temp, JsonSerializer.Serialize(Manifest(), PruneJob.ReportJsonOptions));
            File.Move(temp, manifestPath, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
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
        if (manifest.FormatVersion != FormatVersion)
        {
            throw new CopalStateException($"'{manifestPath}' has format version {manifest.FormatVersion}, this copal reads version {FormatVersion}");
        }
        if (manifest.Datasets is null || manifest.Linears is null || manifest.Options is null || string.IsNullOrEmpty(manifest.ParentHash))
        {
            throw new CopalStateException($"'{manifestPath}' lacks one of parent_hash, options, datasets, linears");
        }
        var options = new CopalOptions(CopalOptions.ParseSensitivity(manifest.Options.Sensitivity), CopalOptions.ParseAccumulation(manifest.Options.Accumulate),
            manifest.Options.Decay, manifest.Options.Update, CopalOptions.ParseMask(manifest.Options.Mask ?? "fixed")) { PercentDamp = manifest.Options.PercentDamp };
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
            bool full = file.TryGet(HessianName(rec.Name), out _);
            bool diag = file.TryGet(HessianDiagName(rec.Name), out _);
            if (full || diag)
            {
                TensorView h = full
                    ? Require(file, tensorsPath, HessianName(rec.Name), DType.F32, [rec.Cols, rec.Cols])
                    : Require(file, tensorsPath, HessianDiagName(rec.Name), DType.F32, [rec.Cols]);
                l.Hessian = new float[h.ElementCount];
                FloatConvert.ToSingle(h, l.Hessian);
                l.HessianIsDiagonal = diag;
                l.HessianSteps = steps;
            }
        }
        return state;
    }

    /// <summary>
    /// Checks that this state can continue a run on the dense parent <paramref name="parentHash"/> with
    /// <paramref name="options"/> and the model <paramref name="config"/>.
    /// </summary>
    /// <exception cref="CopalStateException">Different parent, options or shapes; the message names both values.</exception>
    public void EnsureCompatible(string parentHash, string parentModel, CopalOptions options, LlamaConfig config)
    {
        if (!string.Equals(parentHash, ParentHash, StringComparison.Ordinal))
        {
            throw new CopalStateException(
                $"the COPAL state was made from a dense parent with hash {ParentHash} ('{ParentModel}'), but --model '{parentModel}' has hash {parentHash}; " +
                "resume with the same dense model the run started from (COPAL always prunes the dense parent, never a pruned model)");
        }
        Check("sensitivity", Options.Sensitivity.ToString().ToLowerInvariant(), options.Sensitivity.ToString().ToLowerInvariant());
        Check("accumulate", Options.Accumulate.ToString().ToLowerInvariant(), options.Accumulate.ToString().ToLowerInvariant());
        Check("decay", Options.Decay.ToString("R", CultureInfo.InvariantCulture), options.Decay.ToString("R", CultureInfo.InvariantCulture));
        Check("update", Options.Update ? "on" : "off", options.Update ? "on" : "off");
        Check("mask", CopalOptions.MaskName(Options.Mask), CopalOptions.MaskName(options.Mask));
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
    private static string HessianName(string weightName) => Module(weightName) + ".copal_hessian";
    private static string HessianDiagName(string weightName) => Module(weightName) + ".copal_hessian_diag";
}
