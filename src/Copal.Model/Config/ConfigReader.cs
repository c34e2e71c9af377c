using System.Text.Json;

namespace Copal.Model.Config;

/// <summary>Typed access to config.json fields, with errors that name the file, the field and what was expected.</summary>
internal readonly struct ConfigReader(JsonElement root, string source)
{
    public ModelConfigException Error(string message) => new(source, message);

    public string Architecture()
    {
        string supported = string.Join(", ", LlamaConfig.SupportedArchitectures);
        if (!root.TryGetProperty("architectures", out JsonElement archs) || archs.ValueKind != JsonValueKind.Array || archs.GetArrayLength() == 0)
        {
            string? modelType = OptionalString("model_type");
            return modelType switch
            {
                "llama" => "LlamaForCausalLM",
                "mistral" => "MistralForCausalLM",
                "qwen2" => "Qwen2ForCausalLM",
                "qwen3" => "Qwen3ForCausalLM",
                "phi3" => "Phi3ForCausalLM",
                _ => throw Error($"no 'architectures' list and model_type '{modelType ?? "(missing)"}' is not LLaMA-family; supported: {supported}"),
            };
        }
        string arch = archs[0].ValueKind == JsonValueKind.String ? archs[0].GetString()! : archs[0].ToString();
        if (!LlamaConfig.SupportedArchitectures.Contains(arch))
        {
            throw Error($"architecture '{arch}' is not supported; supported: {supported}");
        }
        return arch;
    }

    public int RequiredInt(string name, int min) =>
        OptionalInt(name, min) ?? throw Error($"missing required field '{name}' (an integer ≥ {min})");

    /// <summary>Whether the config has the field at all (null included): HF keeps a default only for absent fields.</summary>
    public bool Has(string name) => root.TryGetProperty(name, out _);

    public int? OptionalInt(string name, int min)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v))
        {
            throw Error($"field '{name}' must be an integer, found {Describe(e)}");
        }
        if (v < min)
        {
            throw Error(FormattableString.Invariant($"field '{name}' must be ≥ {min}, found {v}"));
        }
        return v;
    }

    public double? OptionalDouble(string name) => OptionalDouble(root, name);

    private double? OptionalDouble(JsonElement obj, string name)
    {
        if (!obj.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (e.ValueKind != JsonValueKind.Number)
        {
            throw Error($"field '{name}' must be a number, found {Describe(e)}");
        }
        double v = e.GetDouble();
        if (!double.IsFinite(v) || v <= 0)
        {
            throw Error(FormattableString.Invariant($"field '{name}' must be a positive finite number, found {v}"));
        }
        return v;
    }

    public bool? OptionalBool(string name)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error($"field '{name}' must be true or false, found {Describe(e)}"),
        };
    }

    public string? OptionalString(string name) =>
        root.TryGetProperty(name, out JsonElement e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;

    /// <summary>A list of strings, or null when the field is absent or null.</summary>
    public IReadOnlyList<string>? OptionalStringList(string name)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (e.ValueKind != JsonValueKind.Array || e.EnumerateArray().Any(item => item.ValueKind != JsonValueKind.String))
        {
            throw Error($"field '{name}' must be a list of strings, found {Describe(e)}");
        }
        return [.. e.EnumerateArray().Select(item => item.GetString()!)];
    }

    public IReadOnlyList<int> IntOrIntList(string name)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return [];
        }
        if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int single))
        {
            return [single];
        }
        if (e.ValueKind == JsonValueKind.Array)
        {
            var list = new List<int>();
            foreach (JsonElement item in e.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int v))
                {
                    throw Error($"field '{name}' must be an integer or a list of integers, found {Describe(item)} in the list");
                }
                list.Add(v);
            }
            return list;
        }
        throw Error($"field '{name}' must be an integer or a list of integers, found {Describe(e)}");
    }

    /// <summary>
    /// rope_scaling. longrope needs the model's context (<paramref name="maxPositions"/>), the pairs RoPE turns
    /// (<paramref name="rotaryPairs"/>: each factor list has one per pair) and the original context, which Phi3Config
    /// keeps at the top level (<c>original_max_position_embeddings</c>), else in rope_scaling, else it is the context.
    /// </summary>
    public RopeScalingConfig RopeScaling(int maxPositions, int rotaryPairs)
    {
        if (!root.TryGetProperty("rope_scaling", out JsonElement s) || s.ValueKind == JsonValueKind.Null)
        {
            return new RopeScalingConfig(RopeScalingKind.None);
        }
        if (s.ValueKind != JsonValueKind.Object)
        {
            throw Error($"field 'rope_scaling' must be an object or null, found {Describe(s)}");
        }
        string? type = s.TryGetProperty("rope_type", out JsonElement t) ? t.GetString()
            : s.TryGetProperty("type", out JsonElement t2) ? t2.GetString() : null;
        double factor = OptionalDouble(s, "factor") ?? 1.0;
        return type switch
        {
            "default" or null => new RopeScalingConfig(RopeScalingKind.None),
            "longrope" or "su" => LongRope(s, maxPositions, rotaryPairs),
            "linear" => new RopeScalingConfig(RopeScalingKind.Linear, factor),
            "llama3" => new RopeScalingConfig(
                RopeScalingKind.Llama3,
                factor,
                OptionalDouble(s, "low_freq_factor") ?? 1.0,
                OptionalDouble(s, "high_freq_factor") ?? 4.0,
                s.TryGetProperty("original_max_position_embeddings", out JsonElement o) && o.TryGetInt32(out int omax) ? omax : 8192),
            _ => throw Error($"rope_scaling type '{type}' is not supported; supported: default, linear, llama3, longrope"),
        };
    }

    /// <summary>HF <c>_compute_longrope_parameters</c>'s inputs, checked as Phi3Config checks them.</summary>
    private RopeScalingConfig LongRope(JsonElement s, int maxPositions, int rotaryPairs)
    {
        int original = OptionalInt("original_max_position_embeddings", min: 1)
            ?? (s.TryGetProperty("original_max_position_embeddings", out JsonElement o) && o.TryGetInt32(out int inner) && inner >= 1 ? inner : maxPositions);
        // With the original context given, HF takes the factor as the ratio of the contexts, not rope_scaling's factor.
        double factor = Has("original_max_position_embeddings") || s.TryGetProperty("original_max_position_embeddings", out _)
            ? (double)maxPositions / original
            : OptionalDouble(s, "factor") ?? 1.0;
        double attention = OptionalDouble(s, "attention_factor")
            ?? (factor <= 1.0 ? 1.0 : Math.Sqrt(1 + (Math.Log(factor) / Math.Log(original))));
        return new RopeScalingConfig(RopeScalingKind.LongRope, factor, OriginalMaxPositionEmbeddings: original)
        {
            ShortFactors = Factors(s, "short_factor", rotaryPairs),
            LongFactors = Factors(s, "long_factor", rotaryPairs),
            AttentionFactor = attention,
        };
    }

    private IReadOnlyList<double> Factors(JsonElement s, string name, int rotaryPairs)
    {
        if (!s.TryGetProperty(name, out JsonElement e) || e.ValueKind != JsonValueKind.Array
            || e.EnumerateArray().Any(f => f.ValueKind != JsonValueKind.Number || !double.IsFinite(f.GetDouble()) || f.GetDouble() <= 0))
        {
            throw Error($"rope_scaling.{name} must be a list of positive numbers for longrope, found {(s.TryGetProperty(name, out JsonElement f2) ? Describe(f2) : "none")}");
        }
        if (e.GetArrayLength() != rotaryPairs)
        {
            throw Error(FormattableString.Invariant($"rope_scaling.{name} must hold one factor per rotated pair of a head ({rotaryPairs}), found {e.GetArrayLength()}"));
        }
        return [.. e.EnumerateArray().Select(f => f.GetDouble())];
    }

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => $"\"{e.GetString()}\"",
        JsonValueKind.Number => e.GetRawText(),
        _ => e.ValueKind.ToString().ToLowerInvariant(),
    };
}
