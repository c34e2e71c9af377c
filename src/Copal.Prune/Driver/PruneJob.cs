using System.Text.Json;
using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Tensors.Backends;
using Copal.Tensors.IO;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;

namespace Copal.Prune.Driver;

/// <summary>A complete pruning run: a dense model folder in, a pruned model folder (with prune-report.json) out.</summary>
/// <param name="ModelDirectory">The dense HF model folder; read, never modified. A compact checkpoint is refused.</param>
/// <param name="OutDirectory">
/// The output folder: must not exist or be empty unless <see cref="Force"/>, and must not be, contain or lie inside the
/// input (nor the folder a COPAL state reads from).
/// </param>
/// <param name="Pruner">The method (<see cref="PrunerFactory.Create"/>).</param>
/// <param name="Options">The sparsity pattern and how the layer-sequential run goes.</param>
/// <param name="Calibration">The calibration samples (<see cref="PruneJob.Calibrate"/>), or <see cref="CalibrationSet.None"/> for magnitude.</param>
public sealed record PruneRequest(
    string ModelDirectory,
    string OutDirectory,
    ILinearPruner Pruner,
    PruneOptions Options,
    CalibrationSet Calibration)
{
    /// <summary>Replace a non-empty output folder.</summary>
    public bool Force { get; init; }

    /// <summary>How messages name the output folder: the option that gave it (--out), or what it is.</summary>
    public string OutputName { get; init; } = "--out";

    /// <summary>Load weights that hold NaN or Inf (refused by default); pruning then refuses the first such linear by name.</summary>
    public bool AllowNonFinite { get; init; }

    /// <summary>
    /// Extra files to write into the output folder before it is moved into place (name → writer of that file's path,
    /// given the run's cancellation token: a writer of gigabytes checks it, so a cancellation stops it and leaves no output).
    /// A name is a plain file name: not empty, "." or "..", without '/' or '\\' (so the file stays inside the output on
    /// every system), and not one of the files the job writes itself (<see cref="PruneJob.OwnFiles"/>).
    /// </summary>
    public IReadOnlyDictionary<string, Action<string, CancellationToken>> ExtraFiles { get; init; } = new Dictionary<string, Action<string, CancellationToken>>();

    /// <summary>
    /// Runs on the output's temporary folder once every file (the extra files too) is in it, just before the folder
    /// is renamed into place: what it changes there lands with the output, and if it fails (a full disk, a
    /// cancellation) there is no output. The CLI compacts the model there (<c>prune --compact</c>) and stages the
    /// copy of the COPAL state for <c>--state</c>.
    /// </summary>
    public Action<string, CancellationToken>? BeforeCommit { get; init; }

    /// <summary>
    /// What <see cref="BeforeCommit"/> writes on the output's file system, counted with the model in the free-space
    /// check made before the pruning (a run that would fill the disk at its end fails at its start): empty for nothing.
    /// </summary>
    internal IReadOnlyList<OutputSpace> BeforeCommitSpace { get; init; } = [];

    /// <summary>
    /// Refuses a request with a null field (a record's positional fields and <c>with</c> take null at run time) before
    /// any work, naming the field, rather than failing on it halfway through.
    /// </summary>
    internal void RequireFields(string parameter)
    {
        Require(ModelDirectory, nameof(ModelDirectory), "the dense model folder");
        Require(OutDirectory, nameof(OutDirectory), "the output folder");
        // "" is no folder: the model's files would be read from the working folder, the output refused as a "path".
        RequireNotEmpty(ModelDirectory, nameof(ModelDirectory), "the dense model folder");
        RequireNotEmpty(OutDirectory, nameof(OutDirectory), "the output folder");
        Require(Pruner, nameof(Pruner), "a pruner (PrunerFactory.Create)");
        Require(Options, nameof(Options), "the prune options");
        Require(Options.Pattern, "Options.Pattern", "a sparsity pattern");
        Require(Calibration, nameof(Calibration), "a calibration set (CalibrationSet.None for a data-free method)");
        Require(ExtraFiles, nameof(ExtraFiles), "a dictionary of extra files (empty for none)");
        Require(BeforeCommitSpace, nameof(BeforeCommitSpace), "a list of what BeforeCommit writes (empty for nothing)");
        for (int i = 0; i < BeforeCommitSpace.Count; i++)
        {
            Require(BeforeCommitSpace[i], $"{nameof(BeforeCommitSpace)}[{i}]", "what BeforeCommit writes, with its bytes");
        }
        foreach ((string name, Action<string, CancellationToken> write) in ExtraFiles)
        {
            Require(write, $"ExtraFiles['{name}']", "a writer of the file");
            // Written as Path.Combine(temp, name): a path would land outside the output, not atomically, and stay after a failed run.
            string? got = name.Length == 0 ? "an empty name"
                : name is "." or ".." ? "a folder"
                : name.IndexOfAny(['/', '\\']) >= 0 || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 ? "a path"
                : PruneJob.OwnFiles.Contains(name, StringComparer.OrdinalIgnoreCase) ? "a file the job writes itself"
                : null;
            if (got is not null)
            {
                throw new ArgumentException(
                    $"{nameof(PruneRequest)}.{nameof(ExtraFiles)} key '{name}': expected a plain file name written into the output folder " +
                    $"(not empty, '.' or '..', without '/' or '\\', not {string.Join(" or ", PruneJob.OwnFiles)}), got {got}",
                    parameter);
            }
        }

        void Require(object? value, string field, string expected)
        {
            if (value is null)
            {
                throw new ArgumentNullException(parameter, $"{nameof(PruneRequest)}.{field} is null; expected {expected}");
            }
        }

        void RequireNotEmpty(string value, string field, string expected)
        {
            if (value.Length == 0)
            {
                throw new ArgumentException($"{nameof(PruneRequest)}.{field} is empty; expected {expected}", parameter);
            }
        }
    }
}

/// <summary>Runs a <see cref="PruneRequest"/>: the input folder is never modified; the output appears whole or not at all.</summary>
public static class PruneJob
{
    /// <summary>The report's file name in the output folder.</summary>
    public const string ReportFileName = "prune-report.json";

    /// <summary>The files the job writes into the output itself, besides the input's side files it copies; <see cref="PruneRequest.ExtraFiles"/> cannot replace them.</summary>
    public static IReadOnlyList<string> OwnFiles { get; } = ["model.safetensors", ReportFileName];

    /// <summary>Settings of prune-report.json and the COPAL state manifest: snake_case, NaN and ±Inf as null (<see cref="CopalJson"/>).</summary>
    public static JsonSerializerOptions ReportJsonOptions { get; } = CopalJson.Create(indented: true);

    /// <summary>Prunes <see cref="PruneRequest.ModelDirectory"/> on <paramref name="backend"/>.</summary>
    public static PruneReport Run(PruneRequest request, IBackend backend, IProgress<PruneProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(backend);
        request.RequireFields(nameof(request));
        int layers = LlamaConfig.Load(request.ModelDirectory).NumLayers;
        CopalState? copalState = (request.Pruner as CopalPruner)?.State;
        if (copalState is not null)
        {
            copalState.ThrowIfSpent();
            copalState.RequireSameLayers(request.Options.Layers, layers);
            // Reads every weight (as long as a load): said, so a 7B run does not sit silent before its first layer.
            progress?.Report(new PruneProgress(-1, layers, "checking the model is the COPAL state's parent (hashing its weights)"));
            copalState.RequireParent(request.ModelDirectory, $"{nameof(PruneRequest)}.{nameof(PruneRequest.ModelDirectory)}", cancellationToken);
            // The state reads its Hessians from there (a resumed step's folder): replacing it or writing into it would
            // change the input of this run, and the step it belongs to could not be resumed again.
            if (copalState.SourceDirectory is string stateFolder)
            {
                PathGuard.RequireApart(request.OutDirectory, $"{nameof(PruneRequest)}.{nameof(PruneRequest.OutDirectory)}", stateFolder, "the folder the COPAL state reads from");
            }
        }
        // Checked before the model loads: a wrong layer set or a missing calibration would otherwise surface as a
        // dense copy reported as pruned, or as a model pruned on a placeholder window.
        request.Options.CheckLayers(layers);
        if (request.Pruner.NeedsStatistics && !request.Calibration.HasData)
        {
            throw new PruningOptionException("calibration", "none", $"calibration data: {request.Pruner.Name} weighs the weights by their inputs' statistics (only magnitude prunes without data)");
        }
        progress?.Report(new PruneProgress(-1, layers, "loading the model"));
        using LlamaModel model = LlamaModel.Load(request.ModelDirectory, backend, SparseLoadMode.Off, allowNonFinite: request.AllowNonFinite, cancellationToken: cancellationToken);
        using SafetensorsCheckpoint source = ModelCheckpoint.Open(request.ModelDirectory, model.Config, cancellationToken: cancellationToken);
        RequireDenseLinears(request.ModelDirectory, source);
        var metadata = new Dictionary<string, string>
        {
            ["copal.pruned.method"] = request.Pruner.Name,
            ["copal.pruned.pattern"] = request.Options.Pattern.ToString(),
            ["copal.pruned.calibration"] = request.Calibration.Hash,
        };
        // A COPAL state is saved into the output too, once the pruning is done, and the caller's BeforeCommit may write
        // more there (a compact copy): their space is checked with the model's before the pruning starts.
        var alongside = new List<OutputSpace>();
        if (copalState?.Projected(model.Config, request.Options.Layers) is (long stateFile, long largestMatrix))
        {
            alongside.Add(new OutputSpace("its COPAL state", _ => stateFile + largestMatrix)); // one matrix is in the spill and the file at once
        }
        alongside.AddRange(request.BeforeCommitSpace);
        using var writer = new PrunedModelWriter(request.ModelDirectory, source, request.OutDirectory, request.Force, model.Config.NumLayers, metadata, request.OutputName, alongside);
        // COPAL's folded Hessians wait in the output's temporary folder, so a failed run leaves nothing behind;
        // saving the state (an extra file, CopalRun.StateFiles) streams them into the state file and deletes them.
        copalState?.BeginRun(writer.TempDirectory, $"{request.OutputName} '{request.OutDirectory}'");
        bool committed = false;
        try
        {
            // Layer errors are measured on the calibration data; CalibrationSet.None's placeholder window is none.
            PruneOptions options = request.Calibration.HasData ? request.Options : request.Options with { MeasureLayerError = false };
            PruneReport report = new LayerwisePruner(model, source, request.Pruner, options).Run(request.Calibration, writer, progress, cancellationToken);
            progress?.Report(new PruneProgress(model.Config.NumLayers, model.Config.NumLayers, "writing the pruned model"));
            // The last point a cancellation can still leave no output: past it, the output is renamed into place.
            cancellationToken.ThrowIfCancellationRequested();
            writer.Commit(temp =>
            {
                WriteNamed(request, ReportFileName, () => File.WriteAllText(Path.Combine(temp, ReportFileName), JsonSerializer.Serialize(report, ReportJsonOptions)));
                foreach ((string name, Action<string, CancellationToken> write) in request.ExtraFiles)
                {
                    WriteNamed(request, name, () => write(Path.Combine(temp, name), cancellationToken));
                }
                // A state the extra files did not save has its spill deleted here, so it does not land in the output.
                copalState?.BeforeCommit();
                request.BeforeCommit?.Invoke(temp, cancellationToken);
                // A cancellation asked for while the files were written (a compaction takes a while) still leaves no output.
                cancellationToken.ThrowIfCancellationRequested();
            });
            committed = true;
            return report;
        }
        finally
        {
            // After a completed run the state reads from the committed output; after any other it is spent unless untouched.
            copalState?.EndRun(writer.OutDirectory, committed);
        }
    }

    /// <summary>
    /// Runs <paramref name="write"/>, which writes <paramref name="name"/> into the output's temporary folder; a failure
    /// (a full disk) names the file where it was going, not the hidden temporary path .NET's message holds.
    /// </summary>
    private static void WriteNamed(PruneRequest request, string name, Action write)
    {
        try
        {
            write();
        }
        catch (Exception e) when (AtomicDirectory.WriteFailureIn(e) is Exception failure)
        {
            throw new IOException($"{request.OutputName} '{request.OutDirectory}': cannot write {name}: {AtomicDirectory.Reason(failure)}", e);
        }
    }

    /// <summary>
    /// Pruning reads and rewrites dense weights; a compact checkpoint (`copal compact`) stores its linears as
    /// values plus indices, so it is refused before any work with the command that turns it back.
    /// </summary>
    internal static void RequireDenseLinears(string modelDirectory, SafetensorsCheckpoint source)
    {
        if (SparseTensorCodec.SparseNames(source.MergedMetadata()).FirstOrDefault() is string compact)
        {
            throw new ModelLoadException(
                $"{modelDirectory} is a compact sparse checkpoint ('{compact}' is stored compressed); pruning needs dense " +
                $"weights: run `copal densify -m {modelDirectory} -o DIR` and prune DIR");
        }
    }

    /// <summary>
    /// Refuses a compact checkpoint in <paramref name="modelDirectory"/> (see above), reading only its header, so a caller
    /// can refuse it before the calibration text is tokenized or a COPAL parent hashed (<see cref="Run"/> checks again).
    /// </summary>
    /// <exception cref="ModelLoadException">The checkpoint stores a linear compressed.</exception>
    public static void RequireDenseLinears(string modelDirectory)
    {
        using SafetensorsCheckpoint source = ModelCheckpoint.Open(modelDirectory);
        RequireDenseLinears(modelDirectory, source);
    }

    /// <summary>Tokenizes the calibration files with the model's tokenizer and draws the samples.</summary>
    public static CalibrationSet Calibrate(string modelDirectory, IReadOnlyList<string> files, int nsamples, int seqLen, ulong seed, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        ArgumentNullException.ThrowIfNull(files);
        return CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(modelDirectory), files, nsamples, seqLen, seed, cancellationToken: cancellationToken);
    }
}
