using System.Diagnostics;
using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;

namespace Copal.Cli.Infrastructure;

/// <summary>A loaded model with its tokenizer and backend, disposed together.</summary>
internal sealed class ModelSession : IDisposable
{
    private ModelSession(IBackend backend, LlamaModel model, CopalTokenizer tokenizer, TimeSpan loadTime)
    {
        Backend = backend;
        Model = model;
        Tokenizer = tokenizer;
        LoadTime = loadTime;
    }

    public IBackend Backend { get; }
    public LlamaModel Model { get; }
    public CopalTokenizer Tokenizer { get; }
    public TimeSpan LoadTime { get; }

    public static ModelSession Open(string directory, string device, bool quiet = false, SparseLoadMode sparse = SparseLoadMode.Off, bool allowNonFinite = false,
        WeightResidence residence = WeightResidence.Auto, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        IBackend backend = CommonOptions.CreateBackend(device);
        try
        {
            if (!quiet)
            {
                Out.Info($"copal: loading {directory} on {backend.Info.Kind} ({backend.Info.DeviceName})");
            }
            // config.json first, the file every model folder has: an empty folder or a wrong path is told by it, not
            // by the tokenizer. Both before the weights load, so neither waits for gigabytes.
            if (Directory.Exists(directory) && !File.Exists(Path.Combine(directory, "config.json")))
            {
                LlamaConfig.Load(directory);
            }
            string tokenizerJson = Path.Combine(directory, "tokenizer.json");
            if (Directory.Exists(tokenizerJson))
            {
                throw new IOException($"{tokenizerJson}: is a directory, expected a file");
            }
            if (!File.Exists(tokenizerJson) && Directory.Exists(directory))
            {
                // Worded as the tokenizer's own check (copal tokenize), so every command says it alike.
                throw new FileNotFoundException($"{directory}: no tokenizer.json in the model folder");
            }
            LlamaModel model = LlamaModel.Load(directory, backend, sparse, quiet ? null : new LoadProgressLines(clock), allowNonFinite, residence, cancellationToken);
            try
            {
                CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(directory);
                if (tokenizer.VocabSize > model.Config.VocabSize)
                {
                    Out.Info($"copal: note: the tokenizer has {tokenizer.VocabSize} tokens, the model's embedding {model.Config.VocabSize}");
                }
                return new ModelSession(backend, model, tokenizer, clock.Elapsed);
            }
            catch
            {
                model.Dispose();
                throw;
            }
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <paramref name="text"/>'s ids, each checked against the model's vocabulary before any work: a tokenizer with more
    /// tokens than the model's embedding (another model's) gives ids the model has no row for, found otherwise only
    /// mid-run, after part of the output. <paramref name="what"/> names the text ("the prompt", "--data").
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens, string what)
    {
        int[] ids = Tokenizer.Encode(text, addSpecialTokens);
        RequireInVocabulary(ids, what);
        return ids;
    }

    /// <summary>Throws, naming the token and both sizes, when an id of <paramref name="what"/> has no row in the model.</summary>
    public void RequireInVocabulary(ReadOnlySpan<int> ids, string what) =>
        RequireInVocabulary(ids, Model.Config.VocabSize, Tokenizer, Model.Source, what);

    /// <summary>As the instance method, for a caller with the tokenizer and config.json's vocab_size but no loaded model (calibration).</summary>
    public static void RequireInVocabulary(ReadOnlySpan<int> ids, int vocab, CopalTokenizer tokenizer, string modelDirectory, string what)
    {
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)vocab)
            {
                throw new TokenizerException($"{what} holds the token '{tokenizer.IdToToken(id)}' (id {id}), outside the model's vocabulary of {vocab} "
                    + $"(config.json vocab_size): " + tokenizer.WhyOutsideModel(id, $"the tokenizer.json of {modelDirectory}"));
            }
        }
    }

    public void Dispose()
    {
        Model.Dispose();
        Backend.Dispose();
    }
}
