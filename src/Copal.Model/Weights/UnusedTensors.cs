using Copal.Model.Config;
using Copal.Tensors;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;

namespace Copal.Model.Weights;

/// <summary>
/// The checkpoint's tensors against the ones the model config.json describes reads, checked when the checkpoint opens.
/// A tensor it does not read would be dropped without a word, running another model than the files hold: a q_proj.bias
/// beside attention_bias false (a Qwen2 checkpoint whose config says LlamaForCausalLM), q/k norms of a Qwen3 under a
/// LLaMA config. transformers drops them with a warning; here they are refused, naming the first.
/// </summary>
internal static class UnusedTensors
{
    // transformers recomputes RoPE's inverse frequencies and ignores the stored buffer that older exports wrote.
    private const string RotaryBuffer = ".rotary_emb.inv_freq";

    /// <exception cref="ModelLoadException">A tensor is none that <paramref name="config"/>'s model reads.</exception>
    public static void Require(IEnumerable<string> tensorNames, LlamaConfig config, string source)
    {
        ArgumentNullException.ThrowIfNull(tensorNames);
        ArgumentNullException.ThrowIfNull(config);
        HashSet<string> read = [.. Names(config)];
        string[] unused = [.. tensorNames.Where(name => !read.Contains(SparseTensorCodec.IsNamedAsPart(name, out string weight) ? weight : name)
            && !name.EndsWith(RotaryBuffer, StringComparison.Ordinal)).Order(StringComparer.Ordinal)];
        if (unused.Length > 0)
        {
            string more = unused.Length > 1 ? $" (and {Plural.Of(unused.Length - 1, "more tensor")})" : "";
            throw new ModelLoadException($"{source}: tensor '{unused[0]}'{more} is not read by {config.Architecture} as config.json describes it{Hint(unused[0], config)}; " +
                "expected only the model's tensors, or the files would run as another model than they hold");
        }
    }

    /// <summary>Every tensor name <paramref name="config"/>'s model may read, as <see cref="LlamaWeights"/>' loader reads them.</summary>
    public static IEnumerable<string> Names(LlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        foreach ((TensorSpec spec, _) in CheckpointLayout.Of(config, DType.F32))
        {
            yield return spec.Name;
        }
        yield return LlamaTensorNames.LmHead; // with tie_word_embeddings, a stored copy is allowed and not read (as transformers)
        if (config.FusedProjections)
        {
            // A compact Phi-3 checkpoint keeps its projections apart (the loader reads either form).
            for (int layer = 0; layer < config.NumLayers; layer++)
            {
                foreach (LinearId id in LinearIds.All)
                {
                    yield return LlamaTensorNames.Linear(layer, id);
                }
            }
        }
    }

    /// <summary>
    /// The tensors among <paramref name="tensorNames"/> that <paramref name="config"/>'s model allows but never reads,
    /// each with why: a tied model's stored copy of lm_head (the embedding is the head) and RoPE's stored inverse
    /// frequencies (recomputed). They are no parameters of the model, and transformers does not count them either.
    /// </summary>
    public static IEnumerable<(string Name, string Why)> AllowedButUnread(IEnumerable<string> tensorNames, LlamaConfig config)
    {
        ArgumentNullException.ThrowIfNull(tensorNames);
        ArgumentNullException.ThrowIfNull(config);
        foreach (string name in tensorNames)
        {
            if (name == LlamaTensorNames.LmHead && config.TieWordEmbeddings)
            {
                // Said without "copy": it is not compared with the embedding (that would read both whole), and
                // whatever it holds the head is the embedding, as transformers ties it and vLLM skips it.
                yield return (name, "stored beside tied embeddings, which are the head with tie_word_embeddings: not read");
            }
            else if (name.EndsWith(RotaryBuffer, StringComparison.Ordinal))
            {
                yield return (name, "RoPE's inverse frequencies, a buffer the model recomputes: not read");
            }
        }
    }

    /// <summary>Why a known kind of tensor is not read, where the config says it.</summary>
    private static string Hint(string name, LlamaConfig config)
    {
        if (name.EndsWith(".bias", StringComparison.Ordinal) && name.Contains(".self_attn.", StringComparison.Ordinal) && !config.AttentionBias)
        {
            return config.Architecture is "MistralForCausalLM" or "Phi3ForCausalLM" ? $" ({config.Architecture} has no attention biases)" : " (attention_bias is false)";
        }
        if ((name.EndsWith(".q_norm.weight", StringComparison.Ordinal) || name.EndsWith(".k_norm.weight", StringComparison.Ordinal)) && !config.QueryKeyNorm)
        {
            return " (only Qwen3ForCausalLM, Olmo2ForCausalLM and Gemma3ForCausalLM have q/k norms)";
        }
        return "";
    }
}
