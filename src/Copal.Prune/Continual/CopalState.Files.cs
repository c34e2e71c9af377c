using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.IO;
using Copal.Tensors.Numerics;
using Copal.Tensors.Safetensors;

namespace Copal.Prune.Continual;

// The state's two files: writing, copying and reading them, and the names of the tensors in them.
public sealed partial class CopalState
{
    /// <summary>The manifest as it would be written now.</summary>
    internal CopalStateManifest Manifest() => new(
        FormatName, FormatVersion, ParentHash, Continual.ParentHash.Scheme, ParentModel,
        new CopalManifestOptions(Options.Sensitivity.ToString().ToLowerInvariant(), Options.Accumulate.ToString().ToLowerInvariant(), Options.Decay, Options.Update, Options.PercentDamp,
            CopalOptions.MaskName(Options.Mask), CopalOptions.UpstreamName(Options.ResolvedUpstream), Options.ResolvedDenseTarget),
        _datasets.ToList(), HessianStorage,
        _linears.Values.Select(l => new CopalLinearRecord(l.Name, l.Rows, l.Cols)).ToList(),
        CreatedUtc, DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));

    // The tensor file's metadata keys that pair it with its manifest: the datasets folded into it and the last one's
    // calibration hash. Taken from the content, not drawn at random, so that a resumed run's file keeps the same bytes
    // as an uninterrupted run's; two saves that agree on them hold the same state.
    private const string StepsKey = "steps";
    private const string LastCalibrationKey = "last_calibration_hash";

    /// <summary>
    /// Writes both state files into <paramref name="directory"/> (created if needed): both are written under temporary
    /// names and renamed only when both are complete, so a failure while writing (a full disk) leaves the folder's
    /// previous state whole. A kill between the two renames leaves a new tensor file beside an old manifest; the tensor
    /// file names the datasets it holds, and <see cref="Load"/> refuses a manifest that lists others. The Hessians are streamed one at a time from memory, the
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
    public void Save(string directory, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ThrowIfSpent();
        RequireSaveFolder(directory);
        WriteBoth(directory, (tensorsPath, manifestPath) =>
        {
            WriteTensors(tensorsPath, cancellationToken);
            WriteNew(manifestPath, JsonSerializer.Serialize(Manifest(), PruneJob.ReportJsonOptions));
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
        // Both files are renamed into the folder: neither may be an input's file, through the input's links either.
        string[] written = [TensorsFileName, ManifestFileName];
        if (!string.IsNullOrEmpty(ParentModel))
        {
            PathGuard.RequireOutsideWriting(directory, SaveDirectoryName, written, ParentModel, "the state's dense parent model");
        }
        if (SourceDirectory is string source)
        {
            PathGuard.RequireOutsideWriting(directory, SaveDirectoryName, written, source, "the folder the COPAL state reads from");
        }
        bool runOutput = _runOutput is not null && string.Equals(RealPath.Resolve(_runOutput), real, RealPath.Comparison);
        if (!runOutput && ModelFileIn(real) is string model)
        {
            throw new IOException($"{SaveDirectoryName} '{directory}' holds a model ({model}); expected a folder of the state's own "
                + "(a state is saved beside a pruned model only by the PruneJob run that made it, through CopalRun.StateFiles)");
        }
    }

    /// <summary>
    /// The file that makes <paramref name="folder"/> a model's (config.json, else the first *.safetensors other than
    /// <see cref="TensorsFileName"/>), or null when it holds none or does not exist. A model's folder holds only the
    /// state of the run that made it: a state saved there by another run would pass for the model's own.
    /// </summary>
    public static string? ModelFileIn(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder))
        {
            return null;
        }
        return File.Exists(Path.Combine(folder, "config.json")) ? "config.json"
            : Directory.EnumerateFiles(folder, "*.safetensors").Select(Path.GetFileName).Order(StringComparer.Ordinal).FirstOrDefault(f => f != TensorsFileName);
    }

    private void WriteTensors(string tensorsPath, CancellationToken cancellationToken)
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
        var meta = new Dictionary<string, string> { ["format"] = FormatName, ["format_version"] = FormatVersion.ToString(CultureInfo.InvariantCulture), ["parent_hash"] = ParentHash,
            [StepsKey] = _datasets.Count.ToString(CultureInfo.InvariantCulture), [LastCalibrationKey] = _datasets.Count > 0 ? _datasets[^1].CalibrationHash : "" };
        bool readsSource = ordered.Any(l => s_slots.Any(slot => Has(l, slot) && Held(l, slot) is null && !_spilled.Contains(SpillKey(l.Name, slot))));
        using SafetensorsFile? source = _source is not null && readsSource ? SafetensorsFile.Open(_source, cancellationToken: cancellationToken) : null;
        using SafetensorsWriter writer = SafetensorsWriter.Create(tensorsPath, specs, meta);
        foreach (LinearState l in ordered)
        {
            writer.Write(ColumnsName(l.Name), MemoryMarshal.AsBytes(l.Columns.AsSpan()));
            foreach (HessianSlot slot in s_slots.Where(slot => Has(l, slot)))
            {
                // A 7B state is tens of GB: a cancellation stops it between Hessians (the writer's file is deleted).
                cancellationToken.ThrowIfCancellationRequested();
                WriteHessian(writer, l, slot, source);
            }
        }
        writer.Commit();
    }

    /// <summary>
    /// Copies both state files from <paramref name="fromDirectory"/> to <paramref name="toDirectory"/> (created if
    /// needed). Both are copied under temporary names first and renamed only when both are complete, so a failure
    /// (a full disk) leaves the folder's previous state whole; a kill between the two renames leaves a pair that
    /// <see cref="Load"/> refuses (the files' save ids differ).
    /// </summary>
    public static void Copy(string fromDirectory, string toDirectory)
    {
        using StagedFiles staged = StageCopy(fromDirectory, toDirectory);
        staged.Commit();
    }

    /// <summary>
    /// The first half of <see cref="Copy"/>: both files copied under temporary names in <paramref name="toDirectory"/>,
    /// renamed into place by <see cref="StagedFiles.Commit"/> and deleted, if not committed, by its Dispose. What a run
    /// that writes the state beside another output uses, so that a failure before either is in place (a full disk)
    /// leaves neither. With <paramref name="outputTwin"/>, the copy follows that output's commit
    /// (<see cref="StagedFiles.Follow"/>): its record is written here too, so a full disk then fails as a copy that
    /// does not fit does, naming the folder, and leaves nothing.
    /// </summary>
    internal static StagedFiles StageCopy(string fromDirectory, string toDirectory, string? outputTwin = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(fromDirectory);
        return Stage(toDirectory, (tensorsPath, manifestPath) =>
        {
            // Not overwrite: the staged names are fresh, so a file there is a planted link, which overwriting opens through.
            File.Copy(Path.Combine(fromDirectory, TensorsFileName), tensorsPath, overwrite: false);
            File.Copy(Path.Combine(fromDirectory, ManifestFileName), manifestPath, overwrite: false);
        }, outputTwin);
    }

    /// <summary>
    /// Writes <paramref name="text"/> to the fresh staged name <paramref name="path"/>, refusing a name already taken:
    /// the names are predictable, and File.WriteAllText would write through a link planted at one, over the file it names.
    /// </summary>
    private static void WriteNew(string path, string text)
    {
        using var writer = new StreamWriter(new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None), new System.Text.UTF8Encoding(false));
        writer.Write(text);
    }

    /// <summary>Writes both state files into <paramref name="directory"/> at once (<see cref="Stage"/>, then committed).</summary>
    private static void WriteBoth(string directory, Action<string, string> write)
    {
        using StagedFiles staged = Stage(directory, write);
        staged.Commit();
    }

    /// <summary>
    /// Has <paramref name="write"/> make both state files in <paramref name="directory"/> (created if needed) under
    /// temporary names (tensors, manifest), and with <paramref name="outputTwin"/> their commit record; a failure deletes them, leaving the folder's previous state as it was.
    /// </summary>
    private static StagedFiles Stage(string directory, Action<string, string> write, string? outputTwin = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        IReadOnlyList<string> made = MadeFolders.Create(directory);
        string[] names = [TensorsFileName, ManifestFileName];
        var staged = new StagedFiles([.. names.Select(n => Path.Combine(directory, n))], made);
        try
        {
            write(staged.Temporary[0], staged.Temporary[1]);
            if (outputTwin is not null)
            {
                staged.Follow(outputTwin);
            }
            return staged;
        }
        catch (Exception e) when (AtomicDirectory.WriteFailureIn(e) is Exception failure)
        {
            staged.Dispose();
            // .NET's message and the writer's name the hidden temporary file, or nothing (a full disk): name the folder instead.
            throw new IOException($"cannot write the COPAL state ({TensorsFileName}, {ManifestFileName}) into '{directory}': {AtomicDirectory.Reason(failure)}", failure);
        }
        catch
        {
            staged.Dispose();
            throw;
        }
    }

    /// <summary>Whether <paramref name="directory"/> holds either state file.</summary>
    public static bool IsIn(string directory) =>
        File.Exists(Path.Combine(directory, TensorsFileName)) || File.Exists(Path.Combine(directory, ManifestFileName));

    private void WriteHessian(SafetensorsWriter writer, LinearState l, HessianSlot slot, SafetensorsFile? source)
    {
        string name = HessianName(l.Name, slot);
        const int chunk = 1 << 24;
        if (Held(l, slot) is float[] held)
        {
            // In pieces of floats: a cross term of 28,672 columns is 3.3 GB, past what a span of bytes holds.
            float[] packed = Packed(slot, held, l.Cols);
            for (int i = 0; i < packed.Length; i += chunk / sizeof(float))
            {
                writer.Write(name, MemoryMarshal.AsBytes(packed.AsSpan(i, Math.Min(chunk / sizeof(float), packed.Length - i))));
            }
        }
        else if (_spilled.Contains(SpillKey(l.Name, slot)))
        {
            string spill = SpillPath(l.Name, slot);
            using (var f = new FileStream(spill, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
            {
                var buffer = new byte[chunk];
                int n;
                while ((n = f.Read(buffer, 0, buffer.Length)) > 0)
                {
                    writer.Write(name, buffer.AsSpan(0, n));
                }
            }
            // In a run, a copied spill file goes at once: the state is then on disk once, not twice, while it is saved
            // (a 7B state is tens of GB). A save that fails after this spends the state anyway (EndRun), so nothing
            // still needs the file; outside a run the spill stays until the save completes.
            if (_runOutput is not null)
            {
                File.Delete(spill);
                _spilled.Remove(SpillKey(l.Name, slot));
            }
        }
        else
        {
            writer.Write(name, Require(source!, _source!, name, DType.F32, [StoredLength(slot, l.Cols)]));
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
            // Bounded, and a named pipe refused before it is opened: its open waits for a writer, deaf to Ctrl-C.
            manifest = JsonSerializer.Deserialize<CopalStateManifest>(BoundedFile.ReadAllText(manifestPath, ManifestMaxBytes, $"a {ManifestFileName}"), PruneJob.ReportJsonOptions)
                ?? throw new CopalStateException($"'{manifestPath}' is empty");
        }
        catch (JsonException e)
        {
            throw new CopalStateException($"'{manifestPath}' is not a valid COPAL state manifest: {JsonProblem.At(e)}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Without this, .NET's "Access to the path ... is denied." (no read permission).
            throw new CopalStateException($"'{manifestPath}' cannot be read: {ReadFailure.Reason(e)}");
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
        RequireEntries(manifest, manifestPath);
        CopalState state;
        try
        {
            var options = new CopalOptions(CopalOptions.ParseSensitivity(manifest.Options.Sensitivity), CopalOptions.ParseAccumulation(manifest.Options.Accumulate),
                manifest.Options.Decay, manifest.Options.Update, CopalOptions.ParseMask(manifest.Options.Mask ?? "fixed"))
            {
                PercentDamp = manifest.Options.PercentDamp,
                Upstream = CopalOptions.ParseUpstream(manifest.Options.Upstream ?? "pruned"),
                DenseTarget = manifest.Options.DenseTarget,
            };
            state = new CopalState(manifest.ParentHash, manifest.ParentModel, options) { CreatedUtc = manifest.CreatedUtc };
        }
        catch (PruningOptionException e)
        {
            // The file's fault, not an option the user typed: said as the manifest's, not as a usage error of --{option}.
            throw new CopalStateException($"'{manifestPath}' holds options no save writes: {e.Option} is '{e.Value}', expected {e.Expected}");
        }
        state._datasets.AddRange(manifest.Datasets);
        int steps = manifest.Datasets.Count;
        using SafetensorsFile file = SafetensorsFile.Open(tensorsPath);
        RequireSameSave(manifest, file, directory);
        foreach (CopalLinearRecord rec in manifest.Linears)
        {
            LinearState l = state.GetOrAdd(rec.Name, rec.Rows, rec.Cols);
            TensorView columns = Require(file, tensorsPath, ColumnsName(rec.Name), DType.F64, [rec.Cols]);
            RequireFinite(columns, tensorsPath, ColumnsName(rec.Name));
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
        RequireOnlyListedParts(manifest, file, tensorsPath);
        state._source = Path.GetFullPath(tensorsPath);
        return state;
    }

    // The tensor file names the datasets it holds (files written before that name none, and are taken as they are).
    private static void RequireSameSave(CopalStateManifest manifest, SafetensorsFile file, string directory)
    {
        if (file.Metadata.TryGetValue("parent_hash", out string? parent) && parent != manifest.ParentHash)
        {
            throw new CopalStateException($"--resume folder '{directory}': {TensorsFileName} was folded from the dense parent with hash {parent}, "
                + $"{ManifestFileName} names the parent {manifest.ParentHash}: the two files belong to different runs; continue from a folder whose state one run wrote");
        }
        if (!file.Metadata.TryGetValue(StepsKey, out string? steps))
        {
            return;
        }
        string manifestSteps = manifest.Datasets.Count.ToString(CultureInfo.InvariantCulture);
        string manifestLast = manifest.Datasets.Count > 0 ? manifest.Datasets[^1].CalibrationHash : "";
        string fileLast = file.Metadata.GetValueOrDefault(LastCalibrationKey) ?? "";
        if (steps != manifestSteps || fileLast != manifestLast)
        {
            throw new CopalStateException($"--resume folder '{directory}': {TensorsFileName} holds {steps} datasets (the last with calibration hash {Short(fileLast)}), "
                + $"{ManifestFileName} lists {manifestSteps} (the last {Short(manifestLast)}): the two were written by different saves, as when a save is stopped "
                + "between renaming them; continue from the state of an earlier step, or run the step again");
        }
    }

    // What a save always writes, checked before any of it is used: a manifest edited or damaged into other valid JSON
    // is one line naming the file and the entry, not a null dereference later.
    private static void RequireEntries(CopalStateManifest manifest, string manifestPath)
    {
        if (manifest.Options.Sensitivity is null || manifest.Options.Accumulate is null)
        {
            throw new CopalStateException($"'{manifestPath}' lacks options.{(manifest.Options.Sensitivity is null ? "sensitivity" : "accumulate")}");
        }
        for (int i = 0; i < manifest.Datasets.Count; i++)
        {
            CopalStepRecord? d = manifest.Datasets[i];
            if (d is null || d.Step != i + 1 || d.Sources is null || string.IsNullOrEmpty(d.CalibrationHash) || d.NSamples < 1 || d.SeqLen < 1 || string.IsNullOrEmpty(d.Pattern))
            {
                throw new CopalStateException($"'{manifestPath}' has datasets[{i}] {Shown(d)}; expected step {i + 1} with its sources, calibration_hash, n_samples ≥ 1, seq_len ≥ 1 and pattern");
            }
        }
        for (int i = 0; i < manifest.Linears.Count; i++)
        {
            CopalLinearRecord? l = manifest.Linears[i];
            if (l is null || string.IsNullOrEmpty(l.Name) || l.Rows < 1 || l.Cols < 1)
            {
                throw new CopalStateException($"'{manifestPath}' has linears[{i}] {Shown(l)}; expected a weight's name with rows ≥ 1 and cols ≥ 1");
            }
        }
    }

    private static string Shown(object? entry) => entry is null ? "null" : JsonSerializer.Serialize(entry, ManifestEntryJson);

    private static readonly JsonSerializerOptions ManifestEntryJson = CopalJson.Create(indented: false);

    private static string Short(string hash) => hash.Length == 0 ? "none" : hash.Length > 12 ? hash[..12] + "…" : hash;

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

    // A Hessian or cross term under another name (damaged, edited) would read as a linear without one, and the resumed
    // run would prune on without it, to other weights and with no word. A save writes only the parts of listed linears.
    private static void RequireOnlyListedParts(CopalStateManifest manifest, SafetensorsFile file, string path)
    {
        var parts = manifest.Linears!.SelectMany(rec => s_slots.Select(slot => HessianName(rec.Name, slot)).Append(ColumnsName(rec.Name)))
            .ToHashSet(StringComparer.Ordinal);
        if (file.Tensors.FirstOrDefault(t => !parts.Contains(t.Name)) is { Name: not null } stray)
        {
            throw new CopalStateException($"'{path}' holds tensor '{OneLine.Of(stray.Name)}', which is no part of a linear {ManifestFileName} lists "
                + "(each has NAME.copal_columns, and may have .copal_hessian_upper, .copal_dense_hessian_upper and .copal_cross_term); the file is damaged");
        }
    }

    // A save writes finite values only; a damaged file of the right size is caught here, before a mask or a Cholesky
    // meets it. The Hessians are checked when read (CopalState.Hessians), the columns when loaded.
    private static void RequireFinite(TensorView t, string path, string name)
    {
        long bad = NonFinite.IndexOf(t, 0, t.ElementCount);
        if (bad >= 0)
        {
            throw new CopalStateException($"tensor '{name}' in '{path}' holds {NonFinite.Describe(t, bad)} at index {bad}; a saved state holds finite values only, so the file is damaged: continue from an earlier step's state");
        }
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
