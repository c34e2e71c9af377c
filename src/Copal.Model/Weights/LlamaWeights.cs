using Copal.Model.Config;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Numerics;
using Copal.Tensors.Sparse;

namespace Copal.Model.Weights;

/// <summary>
/// All parameters of a LLaMA-family model on one backend. Weights are found by their HF names, checked against the
/// config's shapes, and kept in their stored dtype; on the CPU they stay memory-mapped (zero-copy views).
/// </summary>
public sealed class LlamaWeights : IDisposable
{
    private readonly DecoderLayerWeights[] _layers;

    private LlamaWeights(DeviceWeight embedding, DecoderLayerWeights[] layers, DeviceBuffer finalNorm, DeviceWeight lmHead, bool tied)
    {
        Embedding = embedding;
        _layers = layers;
        FinalNorm = finalNorm;
        LmHead = lmHead;
        Tied = tied;
    }

    /// <summary>Token embeddings. // [vocab, hidden]</summary>
    public DeviceWeight Embedding { get; }
    /// <summary>Final RMSNorm weight. // [hidden]</summary>
    public DeviceBuffer FinalNorm { get; }
    /// <summary>Output projection; the embedding itself when tied. // [vocab, hidden]</summary>
    public DeviceWeight LmHead { get; }
    /// <summary>lm_head is the embedding matrix (tie_word_embeddings).</summary>
    public bool Tied { get; }

    /// <summary>The decoder layers, <see cref="LlamaConfig.NumLayers"/> of them, in order.</summary>
    public IReadOnlyList<DecoderLayerWeights> Layers => _layers;

    /// <summary>
    /// Loads every tensor through <paramref name="lookup"/> (name → view, or null when absent).
    /// <paramref name="source"/> names the checkpoint in errors. <paramref name="sparse"/> says how linear weights may
    /// load sparse (compact checkpoints, conversion at load); null loads everything dense. <paramref name="layersLoaded"/>
    /// hears the count of decoder layers loaded after each one.
    /// </summary>
    public static LlamaWeights Load(IBackend backend, LlamaConfig config, Func<string, TensorView?> lookup, string source, SparseWeightSource? sparse = null,
        bool copyWeights = false, IProgress<int>? layersLoaded = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(lookup);
        if (copyWeights && backend is not IWeightCopier)
        {
            throw new ArgumentException($"backend {backend.Info.Kind} cannot hold copies of the weights", nameof(copyWeights));
        }
        var loader = new Loader(backend, config, lookup, source, sparse, copyWeights, cancellationToken);
        var disposables = new List<IDisposable>();
        try
        {
            DeviceWeight embedding = loader.Matrix(LlamaTensorNames.Embedding, config.VocabSize, config.HiddenSize, disposables);
            // Grown as the layers load, not sized by the config first: a config that claims 2^31 layers gets the first
            // missing tensor's name, not an out-of-memory error.
            var layers = new List<DecoderLayerWeights>();
            for (int i = 0; i < config.NumLayers; i++)
            {
                layers.Add(loader.Layer(i, disposables));
                layersLoaded?.Report(i + 1);
            }
            DeviceBuffer finalNorm = loader.Norm(LlamaTensorNames.FinalNorm, config.HiddenSize, disposables);
            // tie_word_embeddings decides, as Hugging Face's tie_weights() does: a stored lm_head.weight beside it (some
            // exports write the copy) is not read, and the head is the embedding.
            bool tied = config.TieWordEmbeddings;
            TensorView? storedHead = lookup(LlamaTensorNames.LmHead);
            if (tied && storedHead is TensorView copy && (copy.Rank != 2 || copy.Shape[0] != config.VocabSize || copy.Shape[1] != config.HiddenSize))
            {
                // transformers reports the size mismatch while loading rather than tie over it; a head of another
                // shape is not the embedding's copy, and running the embedding in its place would give other logits.
                throw new ModelLoadException($"{source}: tensor '{LlamaTensorNames.LmHead}' has shape {copy.ShapeString}, expected [{config.VocabSize}, {config.HiddenSize}] (tie_word_embeddings is set, so it must be the embedding's copy)");
            }
            if (!tied && storedHead is null)
            {
                throw new ModelLoadException($"{source}: tensor '{LlamaTensorNames.LmHead}' is missing and the config does not set tie_word_embeddings");
            }
            DeviceWeight lmHead = tied ? embedding : loader.Matrix(LlamaTensorNames.LmHead, config.VocabSize, config.HiddenSize, disposables);
            return new LlamaWeights(embedding, [.. layers], finalNorm, lmHead, tied);
        }
        catch
        {
            foreach (IDisposable d in disposables)
            {
                d.Dispose();
            }
            throw;
        }
    }

    /// <summary>Swaps in new weights for one layer (pruning replaces a layer, then reruns it); the old ones are returned, not disposed.</summary>
    public DecoderLayerWeights ReplaceLayer(int layer, DecoderLayerWeights weights)
    {
        DecoderLayerWeights old = _layers[layer];
        _layers[layer] = weights;
        return old;
    }

    /// <summary>
    /// Frees the embedding, every layer now in <see cref="Layers"/>, the final norm and an untied lm_head. A layer
    /// swapped out by <see cref="ReplaceLayer"/> is not among them: its caller disposes it.
    /// </summary>
    public void Dispose()
    {
        Embedding.Dispose();
        foreach (DecoderLayerWeights layer in _layers)
        {
            layer.Dispose();
        }
        FinalNorm.Dispose();
        if (!Tied)
        {
            LmHead.Dispose();
        }
    }

    /// <summary>Expected [out, in] of a linear under <paramref name="config"/>.</summary>
    public static (int Out, int In) LinearShape(LlamaConfig config, LinearId id) => id switch
    {
        LinearId.QProj => (config.QDim, config.HiddenSize),
        LinearId.KProj or LinearId.VProj => (config.KvDim, config.HiddenSize),
        LinearId.OProj => (config.HiddenSize, config.QDim),
        LinearId.GateProj or LinearId.UpProj => (config.IntermediateSize, config.HiddenSize),
        LinearId.DownProj => (config.HiddenSize, config.IntermediateSize),
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, null),
    };

    /// <summary>Reads the tensors; with copyWeights, dense matrices become the backend's own copies (<see cref="IWeightCopier"/>).</summary>
    private readonly struct Loader(IBackend backend, LlamaConfig config, Func<string, TensorView?> lookup, string source, SparseWeightSource? sparse,
        bool copyWeights, CancellationToken cancellationToken)
    {
        public DecoderLayerWeights Layer(int layer, List<IDisposable> disposables)
        {
            // OLMo 2 norms each branch's output, not its input; Gemma 3 both.
            DeviceBuffer? inputNorm = config.PostBranchNorms ? null : Norm(LlamaTensorNames.InputNorm(layer), config.HiddenSize, disposables);
            DeviceBuffer postNorm = Norm(LlamaTensorNames.PostAttentionNorm(layer), config.HiddenSize, disposables);
            DeviceBuffer? preFeedforwardNorm = config.SandwichNorms ? Norm(LlamaTensorNames.PreFeedforwardNorm(layer), config.HiddenSize, disposables) : null;
            DeviceBuffer? feedforwardNorm = config.PostBranchNorms || config.SandwichNorms
                ? Norm(LlamaTensorNames.PostFeedforwardNorm(layer), config.HiddenSize, disposables) : null;
            var linears = new DeviceWeight[LinearIds.All.Count];
            var biases = new DeviceBuffer?[LinearIds.All.Count];
            foreach (LinearId id in LinearIds.All)
            {
                (int outDim, int inDim) = LinearShape(config, id);
                linears[(int)id] = Linear(LlamaTensorNames.Linear(layer, id), outDim, inDim, disposables);
                if ((config.AttentionBias && id is LinearId.QProj or LinearId.KProj or LinearId.VProj) || (config.OutputProjectionBias && id is LinearId.OProj))
                {
                    biases[(int)id] = Vector(LlamaTensorNames.Bias(layer, id), outDim, disposables);
                }
            }
            (int queryNormWidth, int keyNormWidth) = config.QueryKeyNormAcrossHeads ? (config.QDim, config.KvDim) : (config.HeadDim, config.HeadDim);
            (DeviceBuffer, DeviceBuffer)? queryKeyNorms = config.QueryKeyNorm
                ? (Norm(LlamaTensorNames.QueryNorm(layer), queryNormWidth, disposables), Norm(LlamaTensorNames.KeyNorm(layer), keyNormWidth, disposables))
                : null;
            return new DecoderLayerWeights(inputNorm, postNorm, linears, biases, queryKeyNorms, feedforwardNorm, preFeedforwardNorm);
        }

        /// <summary>
        /// An RMSNorm weight as the kernels apply it: the stored vector, or on Gemma 3, which stores w and applies 1 + w,
        /// 1 + w summed in f32 as Gemma3RMSNorm sums it (so the kernels' product is the one transformers computes).
        /// </summary>
        public DeviceBuffer Norm(string name, int length, List<IDisposable> disposables)
        {
            if (!config.NormWeightOffsets)
            {
                return Vector(name, length, disposables);
            }
            TensorView view = RequireVector(name, length);
            var values = new float[length];
            FloatConvert.ToSingle(view, values);
            for (int i = 0; i < values.Length; i++)
            {
                values[i] = 1f + values[i];
            }
            DeviceBuffer b = backend.Allocate(length);
            disposables.Add(b);
            backend.Upload(values, b);
            return b;
        }

        /// <summary>A linear layer's weight: possibly stored compact, or converted to sparse at load.</summary>
        private DeviceWeight Linear(string name, int rows, int cols, List<IDisposable> disposables)
        {
            // Here too, not only in Matrix: with --sparse auto or force each linear is measured and converted first.
            cancellationToken.ThrowIfCancellationRequested();
            if (sparse is null)
            {
                return Matrix(name, rows, cols, disposables);
            }
            TensorView? dense = sparse.IsCompact(name) ? null : lookup(name);
            if (dense is TensorView v && (v.Rank != 2 || v.Shape[0] != rows || v.Shape[1] != cols))
            {
                return Matrix(name, rows, cols, disposables);
            }
            DeviceWeight? w = sparse.TryLoad(backend, name, rows, cols, dense, lookup, source);
            if (w is null)
            {
                return Matrix(name, rows, cols, disposables);
            }
            disposables.Add(w);
            return w;
        }

        public DeviceWeight Matrix(string name, int rows, int cols, List<IDisposable> disposables)
        {
            TensorView view = Require(name);
            if (view.Rank != 2 || view.Shape[0] != rows || view.Shape[1] != cols)
            {
                throw new ModelLoadException($"{source}: tensor {ModelCheckpoint.Describe(config, name)} has shape {view.ShapeString}, expected [{rows}, {cols}]");
            }
            if (!view.DType.IsWeightFloat())
            {
                throw new ModelLoadException($"{source}: tensor '{name}' has dtype {view.DType}, expected F32, F16 or BF16");
            }
            cancellationToken.ThrowIfCancellationRequested();
            DeviceWeight w = copyWeights ? ((IWeightCopier)backend).LoadWeightCopy(view, cancellationToken) : backend.LoadWeight(view);
            disposables.Add(w);
            return w;
        }

        public DeviceBuffer Vector(string name, int length, List<IDisposable> disposables)
        {
            DeviceBuffer b = backend.LoadVector(RequireVector(name, length));
            disposables.Add(b);
            return b;
        }

        private TensorView RequireVector(string name, int length)
        {
            TensorView view = Require(name);
            if (view.Rank != 1 || view.Shape[0] != length)
            {
                throw new ModelLoadException($"{source}: tensor '{name}' has shape {view.ShapeString}, expected [{length}]");
            }
            if (!view.DType.IsWeightFloat())
            {
                throw new ModelLoadException($"{source}: tensor '{name}' has dtype {view.DType}, expected F32, F16 or BF16");
            }
            return view;
        }

        // A norm, embedding or head stored compact (only another tool writes one) has its parts there: say so, not "missing".
        private TensorView Require(string name) =>
            lookup(name) ?? throw new ModelLoadException(sparse?.IsCompact(name) == true
                ? $"{source}: tensor '{name}' is stored compact (metadata entry '{SparseTensorCodec.MetadataPrefix}{name}'), but only the decoder layers' linears load compact; expected it dense"
                : $"{source}: tensor {ModelCheckpoint.Describe(config, name)} is missing (config: {config.Architecture}, {config.NumLayers} layers)");
    }
}
