namespace Copal.Model.Weights;

/// <summary>The one place that knows Hugging Face's tensor names for LLaMA-family checkpoints.</summary>
internal static class LlamaTensorNames
{
    /// <summary>The token embedding. // [vocab, hidden]</summary>
    public const string Embedding = "model.embed_tokens.weight";
    /// <summary>The final RMSNorm weight. // [hidden]</summary>
    public const string FinalNorm = "model.norm.weight";
    /// <summary>The output projection; not read when tie_word_embeddings is set (the embedding is the head then). // [vocab, hidden]</summary>
    public const string LmHead = "lm_head.weight";

    /// <summary>Layer <paramref name="layer"/>'s RMSNorm weight before attention, e.g. <c>model.layers.3.input_layernorm.weight</c>.</summary>
    public static string InputNorm(int layer) => $"model.layers.{layer}.input_layernorm.weight";
    /// <summary>
    /// Layer <paramref name="layer"/>'s RMSNorm weight before the MLP (OLMo 2: of the attention output), e.g.
    /// <c>model.layers.3.post_attention_layernorm.weight</c>.
    /// </summary>
    public static string PostAttentionNorm(int layer) => $"model.layers.{layer}.post_attention_layernorm.weight";
    /// <summary>Layer <paramref name="layer"/>'s RMSNorm weight of the MLP output (OLMo 2, Gemma 3), e.g. <c>model.layers.3.post_feedforward_layernorm.weight</c>.</summary>
    public static string PostFeedforwardNorm(int layer) => $"model.layers.{layer}.post_feedforward_layernorm.weight";
    /// <summary>Layer <paramref name="layer"/>'s RMSNorm weight of the MLP input (Gemma 3), e.g. <c>model.layers.3.pre_feedforward_layernorm.weight</c>.</summary>
    public static string PreFeedforwardNorm(int layer) => $"model.layers.{layer}.pre_feedforward_layernorm.weight";

    /// <summary>Layer <paramref name="layer"/>'s RMSNorm weight of each query head (Qwen3; OLMo 2: of all heads at once), e.g. <c>model.layers.3.self_attn.q_norm.weight</c>.</summary>
    public static string QueryNorm(int layer) => $"model.layers.{layer}.self_attn.q_norm.weight";
    /// <summary>Layer <paramref name="layer"/>'s RMSNorm weight of each key head (Qwen3; OLMo 2: of all heads at once), e.g. <c>model.layers.3.self_attn.k_norm.weight</c>.</summary>
    public static string KeyNorm(int layer) => $"model.layers.{layer}.self_attn.k_norm.weight";

    /// <summary>e.g. <c>model.layers.3.mlp.up_proj.weight</c>.</summary>
    public static string Linear(int layer, LinearId id) => $"model.layers.{layer}.{Module(id)}.{id.HfName()}.weight";

    /// <summary>e.g. <c>model.layers.3.self_attn.q_proj.bias</c> (Qwen2).</summary>
    public static string Bias(int layer, LinearId id) => $"model.layers.{layer}.{Module(id)}.{id.HfName()}.bias";

    /// <summary>Phi-3's q, k and v projections stored as one matrix, rows in that order, e.g. <c>model.layers.3.self_attn.qkv_proj.weight</c>.</summary>
    public static string FusedQkv(int layer) => $"model.layers.{layer}.self_attn.qkv_proj.weight";
    /// <summary>Phi-3's gate and up projections stored as one matrix, gate's rows first, e.g. <c>model.layers.3.mlp.gate_up_proj.weight</c>.</summary>
    public static string FusedGateUp(int layer) => $"model.layers.{layer}.mlp.gate_up_proj.weight";

    private static string Module(LinearId id) => id is LinearId.GateProj or LinearId.UpProj or LinearId.DownProj ? "mlp" : "self_attn";

    /// <summary>Parses a linear weight name back into (layer, linear); false for any other tensor.</summary>
    public static bool TryParseLinear(string name, out int layer, out LinearId id)
    {
        layer = -1;
        id = default;
        const string prefix = "model.layers.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal) || !name.EndsWith(".weight", StringComparison.Ordinal))
        {
            return false;
        }
        int dot = name.IndexOf('.', prefix.Length);
        if (dot < 0 || !int.TryParse(name.AsSpan(prefix.Length, dot - prefix.Length), out layer))
        {
            return false;
        }
        foreach (LinearId candidate in LinearIds.All)
        {
            if (name == Linear(layer, candidate))
            {
                id = candidate;
                return true;
            }
        }
        return false;
    }
}
