using Copal.Model.Config;

namespace Copal.Model.Synthetic;

/// <summary>Real LLaMA shapes for synthetic models (random weights) used by benchmarks and scale tests.</summary>
internal static class SyntheticPresets
{
    /// <summary>Preset names and their configs.</summary>
    public static IReadOnlyDictionary<string, LlamaConfig> All { get; } = new Dictionary<string, LlamaConfig>(StringComparer.OrdinalIgnoreCase)
    {
        // TinyLlama-1.1B: 22 layers, GQA 32/4.
        ["tinyllama-1.1b"] = Make(hidden: 2048, intermediate: 5632, layers: 22, heads: 32, kvHeads: 4, vocab: 32000, context: 2048),
        // Llama-2-7B.
        ["llama2-7b"] = Make(hidden: 4096, intermediate: 11008, layers: 32, heads: 32, kvHeads: 32, vocab: 32000, context: 4096),
        // Llama-3.1-8B: GQA 32/8, 128K vocabulary, 131,072 positions by llama3 RoPE scaling of an 8K context.
        ["llama3-8b"] = Make(hidden: 4096, intermediate: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 128256, context: 131072) with
        {
            RopeTheta = 500000,
            RopeScaling = new RopeScalingConfig(RopeScalingKind.Llama3, 8, 1, 4, 8192),
            BosTokenId = 128000,
            EosTokenIds = [128001, 128008, 128009],
        },
        // About 100M parameters with the Llama-2 vocabulary, for continual-pruning runs at scale.
        ["100m"] = Make(hidden: 768, intermediate: 2048, layers: 12, heads: 12, kvHeads: 12, vocab: 32000, context: 2048),
        // A few-MB model for tests: every code path of the big ones (GQA, several layers), in seconds.
        ["test-tiny"] = Make(hidden: 64, intermediate: 160, layers: 2, heads: 4, kvHeads: 2, vocab: 32000, context: 256),
    };

    /// <summary>The config of preset <paramref name="name"/> (case-insensitive); an <see cref="ArgumentException"/> listing the presets when there is none.</summary>
    public static LlamaConfig Get(string name) =>
        All.TryGetValue(name, out LlamaConfig? c)
            ? c
            : throw new ArgumentException($"unknown preset '{name}'; presets: {string.Join(", ", All.Keys)}", nameof(name));

    private static LlamaConfig Make(int hidden, int intermediate, int layers, int heads, int kvHeads, int vocab, int context) => new()
    {
        Architecture = "LlamaForCausalLM",
        HiddenSize = hidden,
        IntermediateSize = intermediate,
        NumLayers = layers,
        NumHeads = heads,
        NumKvHeads = kvHeads,
        HeadDim = hidden / heads,
        VocabSize = vocab,
        MaxPositionEmbeddings = context,
        RmsNormEps = 1e-5,
        RopeTheta = 10000,
        RopeScaling = new RopeScalingConfig(RopeScalingKind.None),
        TieWordEmbeddings = false,
        AttentionBias = false,
        TorchDtype = "bfloat16",
        BosTokenId = 1,
        EosTokenIds = [2],
    };
}
