namespace Copal.Model.Config;

/// <summary>
/// The Gemma3TextConfig fields whose other values would make a model Copal does not compute, refused when the config
/// is read rather than run as something else.
/// </summary>
internal static class GemmaChecks
{
    public static void Require(ConfigReader r)
    {
        string act = r.OptionalString("hidden_activation") ?? "gelu_pytorch_tanh";
        if (act != "gelu_pytorch_tanh")
        {
            throw r.Error($"field 'hidden_activation' must be 'gelu_pytorch_tanh' on Gemma3ForCausalLM, found '{act}'");
        }
        // Gemma 2 capped scores and logits with tanh; Gemma 3 has neither, and Copal's kernels do not cap.
        foreach (string field in (string[])["final_logit_softcapping", "attn_logit_softcapping"])
        {
            if (r.RawIfSet(field) is string found)
            {
                throw r.Error($"field '{field}' must be null on Gemma3ForCausalLM (Gemma 3 has no soft-capping), found {found}");
            }
        }
        if (r.OptionalBool("use_bidirectional_attention") == true)
        {
            throw r.Error("field 'use_bidirectional_attention' must be false on Gemma3ForCausalLM (Copal attends causally), found true");
        }
        // Transformers 5's per-layer-type RoPE dict; Copal reads the flat rope_theta, rope_local_base_freq and rope_scaling.
        if (r.RawIfSet("rope_parameters") is not null)
        {
            throw r.Error("field 'rope_parameters' is not read on Gemma3ForCausalLM; expected rope_theta, rope_local_base_freq and rope_scaling as transformers 4 writes them");
        }
    }
}
