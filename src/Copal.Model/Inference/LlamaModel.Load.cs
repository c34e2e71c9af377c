using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.IO;
using Copal.Tensors.Kernels;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;

namespace Copal.Model.Inference;

// Loading a model folder: config, checkpoint, sparse tensors and where the weights live.
public sealed partial class LlamaModel
{
    /// <summary>
    /// Loads config.json and the safetensors weights of <paramref name="directory"/>. On the CPU the weights are used
    /// in their stored dtype, mapped (see the overload with a <see cref="WeightResidence"/>).
    /// </summary>
    public static LlamaModel Load(string directory, IBackend backend, IProgress<LoadProgress>? progress = null, CancellationToken cancellationToken = default)
        => Load(directory, backend, SparseLoadMode.Off, progress, cancellationToken: cancellationToken);

    /// <summary>
    /// As <see cref="Load(string, IBackend, IProgress{LoadProgress}?, CancellationToken)"/> (which uses <see cref="SparseLoadMode.Off"/>: every
    /// weight dense, what pruning needs), choosing how linears may load sparse.
    /// </summary>
    /// <remarks>
    /// NaN or ±Inf in any floating-point tensor is refused (<see cref="FiniteWeights"/>) unless
    /// <paramref name="allowNonFinite"/>. <paramref name="residence"/> says whether the CPU computes on the mapped
    /// files (the default: the fastest load, no memory of our own) or on a copy read into memory, which decodes
    /// 1.3–1.5× faster on this project's machine but takes seconds per GB to load there
    /// (<see cref="WeightResidence.Auto"/>: the copy when the files take at most half of the available memory); a GPU
    /// backend uploads the weights (<see cref="IBackend.CopiesWeightsAtLoad"/>), so for it every residence maps the files, closed once
    /// the upload is done. <paramref name="progress"/> hears the config, the weights' files and, while they are copied or
    /// uploaded, each quarter of the layers done (<see cref="LoadStage.LayersCopied"/>: the CLI's "weights: 11 of 22 layers
    /// copied"); <paramref name="cancellationToken"/> is checked before each tensor.
    /// </remarks>
    public static LlamaModel Load(string directory, IBackend backend, SparseLoadMode sparseMode, IProgress<LoadProgress>? progress = null,
        bool allowNonFinite = false, WeightResidence residence = WeightResidence.Mapped, CancellationToken cancellationToken = default)
    {
        // "" is no folder (and Path.Combine would read its files from the working folder): a caller's mistake, named.
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(backend);
        if (File.Exists(directory))
        {
            throw new ModelLoadException($"model folder '{directory}' is a file; expected a model folder (config.json, *.safetensors)");
        }
        if (!Directory.Exists(directory))
        {
            throw new ModelLoadException($"model folder '{directory}' does not exist");
        }
        LlamaConfig config = LlamaConfig.Load(directory);
        try
        {
            // The tables grow with the positions a run reaches; a scaling whose angles overflow f32 is refused before
            // the weights load, not as non-finite logits mid-run.
            RopeTables.RequireFinite(config.MaxPositionEmbeddings, config.RotaryDim, config.RopeTheta, RopeScalingOf(config.RopeScaling));
            if (config.LocalRopeTheta is double local)
            {
                RopeTables.RequireFinite(config.MaxPositionEmbeddings, config.RotaryDim, local, null);
            }
        }
        catch (ArgumentException e)
        {
            throw new ModelConfigException(Path.Combine(directory, "config.json"), e.Message, e);
        }
        DeviceAttentionFit.Require(backend, config, Path.Combine(directory, "config.json"));
        // A backend that copies every weight into its own memory (a GPU) uploads them from the mapped files, which are
        // closed once it has: a copy read in first, or a mapping kept open, would hold the model's size of host memory
        // for nothing (a 7B's 13 GB beside the device's copy).
        bool uploads = backend.CopiesWeightsAtLoad;
        if (uploads || (residence == WeightResidence.Auto && backend.Info.Kind != "cpu"))
        {
            residence = WeightResidence.Mapped;
        }
        // A backend that copies weights into its own layout reads them into memory itself, from the mapping: the
        // files are not copied as well. A checkpoint with compact sparse tensors, which the sparse kernels read
        // in place, is still read in whole.
        bool copyWeights = false;
        SafetensorsCheckpoint checkpoint = ModelCheckpoint.Open(directory, config, backend is IWeightCopier ? WeightResidence.Mapped : residence, cancellationToken);
        if (backend is IWeightCopier && residence != WeightResidence.Mapped &&
            WeightResidencePolicy.Resolve(residence, checkpoint.Files.Sum(f => FileLength.Of(f.Path))) == WeightResidence.Memory)
        {
            if (checkpoint.Files.Any(f => SparseTensorCodec.SparseNames(f.Metadata).Any()))
            {
                checkpoint.Dispose();
                checkpoint = ModelCheckpoint.Open(directory, config, WeightResidence.Memory, cancellationToken);
            }
            else
            {
                copyWeights = true;
            }
        }
        WeightResidence weightsResidence = copyWeights ? WeightResidence.Memory : checkpoint.Residence;
        if (checkpoint.TryGet(LlamaTensorNames.Embedding, out TensorView embedding))
        {
            config = config.WithStoredDtype(embedding.DType);
        }
        // Said once the weights' headers are read: a Gemma 3 whose config names no dtype scales by its embedding's.
        progress?.Report(new LoadProgress(LoadStage.Config, config.ToString()));
        SparseWeightSource? sparse = null;
        try
        {
            if (sparseMode != SparseLoadMode.Force)
            {
                // Force converts dense linears to sparse at load, so the device may hold less than the files: only
                // the allocations themselves can tell.
                DeviceFit.Require(backend, checkpoint.Tensors, directory);
            }
            progress?.Report(new LoadProgress(LoadStage.Weights, $"{Plural.Of(checkpoint.Files.Sum(f => f.Tensors.Count), "tensor")} in {Plural.Of(checkpoint.Files.Count, "file")}, " +
                $"{(copyWeights ? "copied into memory in the kernels' layout" : weightsResidence == WeightResidence.Memory ? "read into memory" : "mapped")}, on {backend.Info.Kind}"));
            if (!allowNonFinite)
            {
                FiniteWeights.Require(checkpoint.Tensors, directory, cancellationToken);
            }
            sparse = new SparseWeightSource(checkpoint.MergedMetadata(), sparseMode, m => progress?.Report(new LoadProgress(LoadStage.Note, m)));
            // Weights checked finite are marked so: the CPU kernels then convert F16 without handling Inf and NaN.
            IProgress<int>? copying = progress is not null && (copyWeights || uploads)
                ? new WeightCopyProgress(progress, config.NumLayers, copyWeights ? LoadStage.LayersCopied : LoadStage.LayersUploaded)
                : null;
            LlamaWeights weights = LlamaWeights.Load(
                backend, config, name => checkpoint.TryGet(name, out TensorView v) ? v with { FiniteVerified = !allowNonFinite } : null,
                directory, sparse, copyWeights, copying, cancellationToken);
            if (sparse.LoadedCompact + sparse.Converted + sparse.Densified > 0)
            {
                progress?.Report(new LoadProgress(LoadStage.Sparse, FormattableString.Invariant(
                    $"{sparse.LoadedCompact} linears loaded compact, {sparse.Converted} converted at load ({sparse.ConversionTime.TotalSeconds:F1} s), {sparse.Densified} densified")));
            }
            bool copied = copyWeights || uploads;
            if (copied)
            {
                // Nothing reads the mapping any more (dense weights and vectors are copies, converted sparse
                // weights own their memory, or the device holds them all): unmapping it gives its pages back rather
                // than leaving them counted.
                checkpoint.Dispose();
            }
            return new LlamaModel(backend, config, weights, new Storage(copied ? null : checkpoint, sparse, weightsResidence), directory);
        }
        catch
        {
            sparse?.Dispose();
            checkpoint.Dispose();
            throw;
        }
    }


    /// <summary>
    /// The checkpoint (mapped or read in; none once the backend holds copies of everything) and the memory of
    /// densified weights: both back the loaded weights. Residence says where the weights the kernels read live.
    /// </summary>
    private sealed class Storage(SafetensorsCheckpoint? checkpoint, SparseWeightSource sparse, WeightResidence residence) : IDisposable
    {
        public WeightResidence Residence => residence;

        public void Dispose()
        {
            sparse.Dispose();
            checkpoint?.Dispose();
        }
    }
}
