using System.Text.Json.Nodes;
using Copal.Tensors.IO;

namespace Copal.Model.Config;

/// <summary>Writes a <see cref="LlamaConfig"/> as a Hugging Face config.json that transformers and Copal both load.</summary>
internal static class LlamaConfigWriter
{
    /// <summary>
    /// The config.json text of <paramref name="c"/>, indented. <paramref name="torchDtype"/> overrides
    /// <see cref="LlamaConfig.TorchDtype"/> (for weights written in another dtype); with neither, "float32".
    /// </summary>
    /// <exception cref="ArgumentException">
    /// <paramref name="c"/> holds what its architecture's config class cannot say (a partial rotary width outside
    /// Phi-3, q/k norms outside Qwen3, …): written, it would read back as another model.
    /// </exception>
    public static string ToJson(LlamaConfig c, string? torchDtype = null)
    {
        ArgumentNullException.ThrowIfNull(c);
        RequireExpressible(c);
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(c.Architecture),
            ["model_type"] = LlamaConfig.ModelTypeOf(c.Architecture),
            ["hidden_size"] = c.HiddenSize,
            ["intermediate_size"] = c.IntermediateSize,
            ["num_hidden_layers"] = c.NumLayers,
            ["num_attention_heads"] = c.NumHeads,
            ["num_key_value_heads"] = c.NumKvHeads,
            ["head_dim"] = c.HeadDim,
            ["vocab_size"] = c.VocabSize,
            ["max_position_embeddings"] = c.MaxPositionEmbeddings,
            ["rms_norm_eps"] = c.RmsNormEps,
            ["rope_theta"] = c.RopeTheta,
            ["rope_scaling"] = c.RopeScaling.Kind switch
            {
                RopeScalingKind.None => null,
                RopeScalingKind.Linear => new JsonObject { ["rope_type"] = "linear", ["factor"] = c.RopeScaling.Factor },
                RopeScalingKind.LongRope => LongRope(c),
                RopeScalingKind.Yarn => Yarn(c.RopeScaling),
                _ => new JsonObject
                {
                    ["rope_type"] = "llama3",
                    ["factor"] = c.RopeScaling.Factor,
                    ["low_freq_factor"] = c.RopeScaling.LowFreqFactor,
                    ["high_freq_factor"] = c.RopeScaling.HighFreqFactor,
                    ["original_max_position_embeddings"] = c.RopeScaling.OriginalMaxPositionEmbeddings,
                },
            },
            ["hidden_act"] = "silu",
            ["attention_bias"] = c.AttentionBias,
            ["tie_word_embeddings"] = c.TieWordEmbeddings,
            ["torch_dtype"] = torchDtype ?? c.TorchDtype ?? "float32",
            ["bos_token_id"] = c.BosTokenId,
            ["eos_token_id"] = c.EosTokenIds.Count == 1 ? c.EosTokenIds[0] : new JsonArray(c.EosTokenIds.Select(i => (JsonNode?)i).ToArray()),
        };
        WriteSlidingWindow(o, c);
        if (c.Architecture == "GraniteForCausalLM")
        {
            // All four, the attention one as the scale in effect: GraniteConfig's default for it is 1.0, not 1/√head_dim.
            o["embedding_multiplier"] = c.EmbeddingMultiplier;
            o["residual_multiplier"] = c.ResidualMultiplier;
            o["attention_multiplier"] = c.AttentionMultiplier ?? 1.0 / Math.Sqrt(c.HeadDim);
            o["logits_scaling"] = c.LogitsScaling;
        }
        if (c.Architecture == "Gemma3ForCausalLM")
        {
            // Gemma3TextConfig's names; the embedding scale follows from hidden_size and the dtype, as in transformers.
            o.Remove("hidden_act");
            o["hidden_activation"] = "gelu_pytorch_tanh";
            o["query_pre_attn_scalar"] = c.QueryPreAttnScalar;
            o["rope_local_base_freq"] = c.LocalRopeTheta;
            o["final_logit_softcapping"] = null;
            o["attn_logit_softcapping"] = null;
        }
        if (c.RotaryDim != c.HeadDim)
        {
            o["partial_rotary_factor"] = PartialRotaryFactor(c.RotaryDim, c.HeadDim);
        }
        if (c.RopeScaling.Kind == RopeScalingKind.LongRope)
        {
            // Where Phi3Config keeps it; transformers then takes the factor as the ratio of the two contexts.
            o["original_max_position_embeddings"] = c.RopeScaling.OriginalMaxPositionEmbeddings;
        }
        return o.ToJsonString(CopalJson.Create(indented: true, snakeCase: false));
    }

    /// <summary>Throws unless the fields of <paramref name="c"/> read back from its architecture's config.json as they are.</summary>
    private static void RequireExpressible(LlamaConfig c)
    {
        string arch = c.Architecture;
        void Require(bool holds, string what)
        {
            if (!holds)
            {
                throw new ArgumentException($"{arch}'s config.json cannot hold {what}; written, it would read back as another model", nameof(c));
            }
        }
        Require(LlamaConfig.SupportedArchitectures.Contains(arch), "anything: the architecture is not one Copal writes");
        Require(c.HeadDim >= 2 && c.HeadDim % 2 == 0 && c.RotaryDim >= 2 && c.RotaryDim % 2 == 0 && c.RotaryDim <= c.HeadDim,
            FormattableString.Invariant($"head_dim {c.HeadDim} with a rotary width of {c.RotaryDim} (both even, 2 ≤ rotary ≤ head_dim)"));
        bool phi3 = arch == "Phi3ForCausalLM", qwen = arch is "Qwen2ForCausalLM" or "Qwen3ForCausalLM", gemma = arch == "Gemma3ForCausalLM";
        Require(phi3 || c.RotaryDim == c.HeadDim, FormattableString.Invariant($"a rotary width ({c.RotaryDim}) narrower than the head ({c.HeadDim})"));
        Require(arch != "Qwen2ForCausalLM" || c.AttentionBias, "q/k/v without biases (Qwen2 always has them)");
        Require(arch is not ("MistralForCausalLM" or "Phi3ForCausalLM") || !c.AttentionBias, "attention biases");
        Require(c.QueryKeyNorm == (arch is "Qwen3ForCausalLM" or "Olmo2ForCausalLM" or "Gemma3ForCausalLM"), c.QueryKeyNorm ? "q/k norms" : $"attention without q/k norms ({arch} always has them)");
        Require(c.SlidingWindow is null || arch is "MistralForCausalLM" or "Phi3ForCausalLM" || qwen || gemma, "a sliding window");
        Require(c.SlidingWindow is null || c.SlidingWindowLayers.Count > 0, "a sliding window on no layer");
        Require(c.SlidingWindow is null || qwen || gemma || c.SlidingWindowLayers.Count == c.NumLayers, "a sliding window on some layers only");
        // Gemma's embedding and attention scales follow from its other fields; residual and logits multipliers it has none.
        Require(!c.HasMultipliers || arch == "GraniteForCausalLM" || (gemma && c.ResidualMultiplier == 1.0 && c.LogitsScaling == 1.0),
            "embedding, residual, attention or logits multipliers");
        Require(gemma == (c.LocalRopeTheta is not null), gemma ? "no local RoPE base (rope_local_base_freq)" : "a local RoPE base");
        Require(!phi3 || c.RopeScaling.Kind is RopeScalingKind.None or RopeScalingKind.LongRope, $"{c.RopeScaling.Kind} RoPE scaling (Phi3Config takes longrope only)");
        Require(c.RopeScaling.Kind != RopeScalingKind.LongRope
                || (c.RopeScaling.ShortFactors.Count == c.RotaryDim / 2 && c.RopeScaling.LongFactors.Count == c.RotaryDim / 2),
            FormattableString.Invariant($"longrope factor lists of {c.RopeScaling.ShortFactors.Count} and {c.RopeScaling.LongFactors.Count} for {c.RotaryDim / 2} rotated pairs"));
    }

    /// <summary>
    /// The smallest factor from which int(headDim · factor), as Phi3Config and Copal read it, gives rotaryDim back:
    /// rotaryDim / headDim itself often multiplies back a hair short (30 / 44 reads as 29).
    /// </summary>
    internal static double PartialRotaryFactor(int rotaryDim, int headDim)
    {
        double factor = (double)rotaryDim / headDim;
        while ((int)(headDim * factor) < rotaryDim)
        {
            factor = Math.BitIncrement(factor);
        }
        return factor;
    }

    /// <summary>
    /// longrope as Phi3Config of transformers 4.x accepts it: exactly type, short_factor and long_factor (the original
    /// context goes at the top level). The attention factor is written only where it is not the one transformers
    /// derives, since dropping it would change the model.
    /// </summary>
    private static JsonObject LongRope(LlamaConfig c)
    {
        RopeScalingConfig s = c.RopeScaling;
        var o = new JsonObject
        {
            ["type"] = "longrope",
            ["short_factor"] = new JsonArray([.. s.ShortFactors.Select(f => (JsonNode?)f)]),
            ["long_factor"] = new JsonArray([.. s.LongFactors.Select(f => (JsonNode?)f)]),
        };
        double derived = RopeScalingConfig.LongRopeAttentionFactor((double)c.MaxPositionEmbeddings / s.OriginalMaxPositionEmbeddings, s.OriginalMaxPositionEmbeddings);
        if (s.AttentionFactor != derived)
        {
            o["attention_factor"] = s.AttentionFactor;
        }
        return o;
    }

    /// <summary>
    /// YaRN as transformers 5.x reads it: the resolved factor, original context and betas written out, truncate only
    /// when false, and the attention factor only where it is not the one derived from the factor (an mscale pair's
    /// becomes an explicit attention_factor, which HF prefers to it).
    /// </summary>
    private static JsonObject Yarn(RopeScalingConfig s)
    {
        var o = new JsonObject
        {
            ["rope_type"] = "yarn",
            ["factor"] = s.Factor,
            ["original_max_position_embeddings"] = s.OriginalMaxPositionEmbeddings,
            ["beta_fast"] = s.BetaFast,
            ["beta_slow"] = s.BetaSlow,
        };
        if (!s.Truncate)
        {
            o["truncate"] = false;
        }
        if (s.AttentionFactor != RopeScalingConfig.YarnAttentionFactor(s.Factor))
        {
            o["attention_factor"] = s.AttentionFactor;
        }
        return o;
    }

    /// <summary>
    /// The sliding window in the fields the architecture's HF class reads: Mistral's and Phi-3's sliding_window (null
    /// says none: an absent field means HF's 4,096 for Mistral); Qwen2's and Qwen3's use_sliding_window, sliding_window and layer_types. LLaMA
    /// has none.
    /// </summary>
    private static void WriteSlidingWindow(JsonObject o, LlamaConfig c)
    {
        if (c.Architecture == "Gemma3ForCausalLM")
        {
            // Gemma3TextConfig needs a window even with no sliding layer (then any: no layer uses it).
            o["sliding_window"] = c.SlidingWindow ?? 4096;
            o["layer_types"] = new JsonArray([.. Enumerable.Range(0, c.NumLayers)
                .Select(l => (JsonNode?)(c.AttentionWindow(l) > 0 ? "sliding_attention" : "full_attention"))]);
            // Transformers before layer_types read sliding_window_pattern: written where it gives the same layers.
            int firstGlobal = Enumerable.Range(0, c.NumLayers).FirstOrDefault(l => c.AttentionWindow(l) == 0, -1);
            if (firstGlobal >= 0 && Enumerable.Range(0, c.NumLayers).All(l => (c.AttentionWindow(l) > 0) == ((l + 1) % (firstGlobal + 1) != 0)))
            {
                o["sliding_window_pattern"] = firstGlobal + 1;
            }
            return;
        }
        if (c.Architecture is "MistralForCausalLM" or "Phi3ForCausalLM")
        {
            o["sliding_window"] = c.SlidingWindow;
        }
        else if (c.Architecture is "Qwen2ForCausalLM" or "Qwen3ForCausalLM")
        {
            o["use_sliding_window"] = c.SlidingWindow is not null;
            o["sliding_window"] = c.SlidingWindow;
            if (c.SlidingWindow is not null)
            {
                o["layer_types"] = new JsonArray([.. Enumerable.Range(0, c.NumLayers)
                    .Select(l => (JsonNode?)(c.SlidingWindowLayers.Contains(l) ? "sliding_attention" : "full_attention"))]);
                // Transformers before layer_types read max_window_layers: the same layers, where they are the last ones.
                int first = c.SlidingWindowLayers[0];
                if (c.SlidingWindowLayers.SequenceEqual(Enumerable.Range(first, c.NumLayers - first)))
                {
                    o["max_window_layers"] = first;
                }
            }
        }
    }
}
