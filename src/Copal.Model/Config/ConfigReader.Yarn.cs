using System.Text.Json;

namespace Copal.Model.Config;

/// <summary>rope_scaling type "yarn" (YaRN) outside Phi-3, read as transformers 5.x reads it.</summary>
internal readonly partial struct ConfigReader
{
    /// <summary>
    /// HF <c>_compute_yarn_parameters</c>'s inputs as transformers 5.x resolves them (<c>standardize_rope_params</c>,
    /// <c>_validate_yarn_rope_parameters</c>); where HF only warns about a value (a factor below 1, beta_fast below
    /// beta_slow, a non-positive attention factor) Copal refuses it, naming the field. Unknown fields are ignored.
    /// <list type="bullet">
    /// <item>The original context: a top-level <c>original_max_position_embeddings</c> when the config has one (5.x
    /// gives it priority, for Phi-3's sake, for every class), else rope_scaling's, else <c>max_position_embeddings</c>.</item>
    /// <item>The factor: rope_scaling's <c>factor</c>, required. transformers 4.50 to 4.55 replaced it by
    /// max_position_embeddings / original context whenever rope_scaling named the original context, which made
    /// Qwen2.5's recommended block (factor 4 over an unchanged 32,768 context) a factor of 1 (issue 38224); from 4.56
    /// (PR 40320) and in 5.x the given factor wins and the ratio is used only for an explicit null. Copal follows
    /// the current behaviour.</item>
    /// <item>beta_fast 32 and beta_slow 1 when absent, null or 0 (HF reads them with Python's <c>or</c>).</item>
    /// <item>truncate: true when absent; an explicit null is false (HF's <c>get("truncate", True)</c> returns it).</item>
    /// <item>The attention factor: <c>attention_factor</c> when given, else
    /// <see cref="RopeScalingConfig.YarnAttentionFactor"/> of the factor and mscale / mscale_all_dim.</item>
    /// </list>
    /// </summary>
    private RopeScalingConfig Yarn(JsonElement s, int maxPositions)
    {
        int original = OptionalInt("original_max_position_embeddings", min: 1)
            ?? OptionalInt(s, "original_max_position_embeddings", $"{ropeBlock}.original_max_position_embeddings", min: 1)
            ?? maxPositions;
        if (!s.TryGetProperty("factor", out JsonElement f))
        {
            throw Error($"{ropeBlock} type 'yarn' needs field '{ropeBlock}.factor' (a number ≥ 1)");
        }
        double factor;
        if (f.ValueKind == JsonValueKind.Null)
        {
            factor = (double)maxPositions / original;
            if (factor < 1)
            {
                throw Error(FormattableString.Invariant(
                    $"field '{ropeBlock}.factor' is null, so yarn takes max_position_embeddings / original_max_position_embeddings = {maxPositions} / {original}, which must be ≥ 1"));
            }
        }
        else
        {
            factor = ScalingDouble(s, "factor")!.Value;
            if (factor < 1)
            {
                throw Error($"field '{ropeBlock}.factor' must be ≥ 1 for yarn (the context it stretches to over the original one), found {Describe(f)}");
            }
        }
        double betaFast = Beta(s, "beta_fast", 32), betaSlow = Beta(s, "beta_slow", 1);
        if (betaFast < betaSlow)
        {
            throw Error(FormattableString.Invariant(
                $"field '{ropeBlock}.beta_fast' ({betaFast}) must be ≥ '{ropeBlock}.beta_slow' ({betaSlow}) (defaults 32 and 1): the ramp runs from the pairs that turn beta_fast times to those that turn beta_slow times"));
        }
        double attention = ScalingDouble(s, "attention_factor") ?? DerivedYarnAttention(s, factor);
        return new RopeScalingConfig(RopeScalingKind.Yarn, factor, OriginalMaxPositionEmbeddings: original)
        {
            BetaFast = betaFast,
            BetaSlow = betaSlow,
            Truncate = Truncate(s),
            AttentionFactor = attention,
        };
    }

    /// <summary>A beta: absent, null or 0 give the default, as HF's <c>get(name) or default</c>; a negative one has no logarithm in HF.</summary>
    private double Beta(JsonElement s, string name, double fallback)
    {
        double? v = ScalingNumber(s, name);
        if (v < 0)
        {
            throw Error(FormattableString.Invariant($"field '{ropeBlock}.{name}' must be a positive number (0 or null: the default {fallback}), found {s.GetProperty(name).GetRawText()}"));
        }
        return v is double given && given != 0 ? given : fallback;
    }

    private bool Truncate(JsonElement s)
    {
        if (!s.TryGetProperty("truncate", out JsonElement t))
        {
            return true;
        }
        return t.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw Error($"field '{ropeBlock}.truncate' must be true or false, found {Describe(t)}"),
        };
    }

    /// <summary>The attention factor from the factor and DeepSeek's mscale / mscale_all_dim, which must come out positive.</summary>
    private double DerivedYarnAttention(JsonElement s, double factor)
    {
        double? mscale = ScalingNumber(s, "mscale"), mscaleAllDim = ScalingNumber(s, "mscale_all_dim");
        double attention = RopeScalingConfig.YarnAttentionFactor(factor, mscale, mscaleAllDim);
        if (!(attention > 0) || !float.IsFinite((float)attention) || (float)attention <= 0)
        {
            throw Error(FormattableString.Invariant(
                $"fields '{ropeBlock}.mscale' ({mscale}) and '{ropeBlock}.mscale_all_dim' ({mscaleAllDim}) give yarn an attention factor of {attention}; it must be a positive number within f32's range"));
        }
        return attention;
    }

    /// <summary>A finite number of rope_scaling of any sign, or null when the field is absent or null.</summary>
    private double? ScalingNumber(JsonElement s, string name)
    {
        if (!s.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetDouble(out double v) || !double.IsFinite(v))
        {
            throw Error($"field '{ropeBlock}.{name}' must be a number, found {Describe(e)}");
        }
        return v;
    }
}
