using System.Text.Json.Nodes;

namespace Copal.Model.Config;

/// <summary>
/// The config.json of a model Copal writes from a Phi-3: the weights it writes hold the separate q/k/v and gate/up
/// projections under LLaMA's names (<see cref="Weights.ModelCheckpoint"/>), which Phi3ForCausalLM cannot load. With
/// plain RoPE, whole-head rotation and no biases, Phi-3 computes exactly what LlamaForCausalLM does, or
/// MistralForCausalLM where it attends through a sliding window; the config says so, and keeps every other field.
/// </summary>
public static class SeparateProjectionsConfig
{
    /// <summary>
    /// The config text to write beside separate projections read from a model whose config.json is
    /// <paramref name="json"/>; null when that model stores them separately already (copy its config unchanged).
    /// </summary>
    public static string? For(LlamaConfig config, string json)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(json);
        if (!config.FusedProjections)
        {
            return null;
        }
        JsonObject root = JsonNode.Parse(json)!.AsObject();
        bool mistral = config.SlidingWindow is not null;
        root["architectures"] = new JsonArray(mistral ? "MistralForCausalLM" : "LlamaForCausalLM");
        root["model_type"] = mistral ? "mistral" : "llama";
        // auto_map points transformers at Phi-3's own code, which expects the fused tensors; the other fields are
        // Phi-3's alone (partial_rotary_factor is 1 here) or would give LLaMA biases Phi-3 never has.
        foreach (string field in new[] { "auto_map", "partial_rotary_factor", "attention_bias", "mlp_bias" })
        {
            root.Remove(field);
        }
        if (!mistral)
        {
            root.Remove("sliding_window");
        }
        return root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// What to write as config.json beside the separate projections read from the model folder
    /// <paramref name="inputDirectory"/>: null to copy its config.json unchanged.
    /// </summary>
    public static string? ForFolder(string inputDirectory) =>
        For(LlamaConfig.Load(inputDirectory), File.ReadAllText(Path.Combine(inputDirectory, "config.json")));
}
