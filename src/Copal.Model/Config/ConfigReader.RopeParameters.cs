using System.Text.Json;

namespace Copal.Model.Config;

/// <summary>
/// transformers 5's <c>rope_parameters</c>: one object holding RoPE's base (<c>rope_theta</c>), its scaling
/// (<c>rope_type</c> and that type's fields) and <c>partial_rotary_factor</c>, which transformers 4 wrote as the
/// top-level <c>rope_theta</c>, <c>rope_scaling</c> and <c>partial_rotary_factor</c>. A config saved by transformers 5
/// holds only the new object; read as if absent, a Llama 3.1 would run with θ 10,000 and no llama3 scaling.
/// </summary>
internal readonly partial struct ConfigReader
{
    /// <summary>transformers 5's name for the RoPE settings object.</summary>
    public const string RopeParametersField = "rope_parameters";

    /// <summary>
    /// The config's rope_parameters object, or null where it has none (absent or null). transformers 5 reads a non-empty
    /// rope_scaling in its place and transformers 4 reads only rope_scaling, so a config holding both is refused: the
    /// two versions would run different models from it. Objects keyed by layer type (Gemma 3's form) are refused too.
    /// </summary>
    private JsonElement? RopeParameters()
    {
        if (!root.TryGetProperty(RopeParametersField, out JsonElement p) || p.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (p.ValueKind != JsonValueKind.Object)
        {
            throw Error($"field '{RopeParametersField}' must be an object or null, found {Describe(p)}");
        }
        if (root.TryGetProperty("rope_scaling", out JsonElement s) && s.ValueKind != JsonValueKind.Null
            && !(s.ValueKind == JsonValueKind.Object && !s.EnumerateObject().Any()))
        {
            throw Error($"fields 'rope_scaling' (transformers 4's) and '{RopeParametersField}' (transformers 5's) are both set; transformers 4 reads only the first and 5 prefers it, so the second would be ignored: expected one of them");
        }
        foreach (JsonProperty field in p.EnumerateObject())
        {
            if (field.Value.ValueKind == JsonValueKind.Object)
            {
                throw Error($"field '{RopeParametersField}.{field.Name}' is an object: RoPE settings per layer type are not supported here; expected one object of rope_type, rope_theta and the scaling's fields");
            }
        }
        return p;
    }

    /// <summary>
    /// A number transformers 5 keeps in rope_parameters and transformers 4 at the top level (<c>rope_theta</c>,
    /// <c>partial_rotary_factor</c>): rope_parameters' value, else the top level's, else null. Where both are given
    /// they must agree, as each version reads another of them.
    /// </summary>
    public double? RopeDouble(string name)
    {
        double? top = OptionalDouble(name);
        if (RopeParameters() is not JsonElement p)
        {
            return top;
        }
        double? inner = OptionalDouble(p, name, $"{RopeParametersField}.{name}");
        if (inner is double a && top is double b && a != b)
        {
            throw Error(FormattableString.Invariant(
                $"field '{RopeParametersField}.{name}' is {a} but the top-level '{name}' is {b}; transformers 5 reads the first and 4 the second: expected them equal, or one of them"));
        }
        return inner ?? top;
    }

    /// <summary>Where <see cref="RopeDouble"/> read <paramref name="name"/>, for messages: "rope_parameters.name" or "name".</summary>
    public string RopeFieldName(string name) =>
        RopeParameters() is JsonElement p && p.TryGetProperty(name, out JsonElement e) && e.ValueKind != JsonValueKind.Null ? $"{RopeParametersField}.{name}" : name;

    /// <summary>
    /// Fields of rope_parameters that are not the scaling's own (the base, the rotated share, the original context), so
    /// one without a rope_type is plain RoPE, as transformers 5 defaults it to "default".
    /// </summary>
    private static bool IsRopeSetting(string name) => name is "rope_theta" or "partial_rotary_factor" or "original_max_position_embeddings";
}
