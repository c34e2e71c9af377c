using System.Text.Json;

namespace Copal.Model.Config;

/// <summary>Typed access to config.json fields, with errors that name the file, the field and what was expected.</summary>
/// <param name="root">The config's top-level object.</param>
/// <param name="source">The file, for messages.</param>
/// <param name="ropeBlock">
/// The object RoPE's scaling is read from, as messages name it: transformers 4's <c>rope_scaling</c>, or transformers 5's
/// <c>rope_parameters</c> (<see cref="RopeScaling"/>).
/// </param>
internal readonly partial struct ConfigReader(JsonElement root, string source, string ropeBlock = "rope_scaling")
{
    public ModelConfigException Error(string message) => new(source, message);

    /// <summary>
    /// <c>architectures[0]</c>, or the class of <c>model_type</c> when that list is missing. Where both are given they
    /// must agree: transformers' Auto classes build the model from model_type and vLLM from architectures, so a config
    /// where they differ, or whose model_type is no supported class's, means two models.
    /// </summary>
    public string Architecture()
    {
        string supported = string.Join(", ", LlamaConfig.SupportedArchitectures);
        string? modelType = OptionalString("model_type");
        string? ofModelType = LlamaConfig.ArchitectureOf(modelType);
        if (root.TryGetProperty("architectures", out JsonElement list) && list.ValueKind is not (JsonValueKind.Array or JsonValueKind.Null))
        {
            throw Error($"field 'architectures' must be a list of strings, found {Describe(list)}");
        }
        if (!root.TryGetProperty("architectures", out JsonElement archs) || archs.ValueKind != JsonValueKind.Array || archs.GetArrayLength() == 0)
        {
            return ofModelType ?? throw Error($"no 'architectures' list and model_type '{modelType ?? "(missing)"}' is not LLaMA-family; supported: {supported}");
        }
        if (archs[0].ValueKind != JsonValueKind.String)
        {
            throw Error($"field 'architectures' must be a list of strings, found {Describe(archs[0])} in the list");
        }
        string arch = archs[0].GetString()!;
        if (!LlamaConfig.SupportedArchitectures.Contains(arch))
        {
            throw Error($"architecture '{arch}' is not supported; supported: {supported}");
        }
        if (modelType is not null && ofModelType is null)
        {
            // transformers would build another model from this model_type than the one architectures names.
            throw Error($"architectures names {arch} but model_type '{modelType}' is not LLaMA-family (transformers builds the model from model_type, vLLM from architectures); make them agree");
        }
        if (ofModelType is not null && ofModelType != arch)
        {
            throw Error($"architectures names {arch} but model_type '{modelType}' is {ofModelType} (transformers builds the model from model_type, vLLM from architectures); make them agree");
        }
        return arch;
    }

    public int RequiredInt(string name, int min) =>
        OptionalInt(name, min) ?? throw Error($"missing required field '{name}' (an integer ≥ {min})");

    /// <summary>Whether the config has the field at all (null included): HF keeps a default only for absent fields.</summary>
    public bool Has(string name) => root.TryGetProperty(name, out _);

    /// <summary>The field's JSON text where it is present and not null (for messages that quote it), else null.</summary>
    public string? RawIfSet(string name) =>
        root.TryGetProperty(name, out JsonElement e) && e.ValueKind != JsonValueKind.Null ? e.GetRawText() : null;

    public int? OptionalInt(string name, int min) => OptionalInt(root, name, name, min);

    /// <summary>An integer field of <paramref name="obj"/>; <paramref name="label"/> names it in errors (rope_scaling.x).</summary>
    private int? OptionalInt(JsonElement obj, string name, string label, int min)
    {
        if (!obj.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v))
        {
            // A whole number past int's range is an integer: say the range it must be in.
            bool tooLarge = e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long big) && big > int.MaxValue;
            throw Error(tooLarge
                ? FormattableString.Invariant($"field '{label}' must be an integer from {min} to {int.MaxValue}, found {Describe(e)}")
                : $"field '{label}' must be an integer, found {Describe(e)}");
        }
        if (v < min)
        {
            throw Error(FormattableString.Invariant($"field '{label}' must be ≥ {min}, found {v}"));
        }
        return v;
    }

    public double? OptionalDouble(string name) => OptionalDouble(root, name, name);

    private double? OptionalDouble(JsonElement obj, string name, string label)
    {
        if (!obj.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        if (e.ValueKind != JsonValueKind.Number)
        {
            throw Error($"field '{label}' must be a number, found {Describe(e)}");
        }
        double v = e.TryGetDouble(out double d) ? d : double.PositiveInfinity;
        if (!double.IsFinite(v) || v <= 0)
        {
            throw Error($"field '{label}' must be a positive finite number, found {Describe(e)}");
        }
        RequireSingleRange(label, e, v);
        return v;
    }

    /// <summary>The model computes with these values in f32 (as transformers does): one f32 cannot hold is refused.</summary>
    private void RequireSingleRange(string label, JsonElement e, double v)
    {
        if (!float.IsFinite((float)v) || (float)v <= 0)
        {
            throw Error($"field '{label}' must lie within f32's range (the model computes with it in f32), found {Describe(e)}");
        }
    }

    private double? ScalingDouble(JsonElement s, string name) => OptionalDouble(s, name, ropeBlock + "." + name);

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

    public string? OptionalString(string name)
    {
        if (!root.TryGetProperty(name, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return e.ValueKind == JsonValueKind.String ? e.GetString() : throw Error($"field '{name}' must be a string, found {Describe(e)}");
    }

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
    /// rope_scaling, or transformers 5's rope_parameters where the config holds that (<see cref="RopeParameters"/>).
    /// longrope and yarn need the model's context (<paramref name="maxPositions"/>), longrope the pairs RoPE turns
    /// (<paramref name="rotaryPairs"/>: each factor list has one per pair). <paramref name="phi3"/>: read as
    /// Phi3Config reads it (the older "su" and "yarn" mean longrope; the original context defaults to 4,096); on every
    /// other architecture "yarn" is YaRN (<see cref="Yarn"/>).
    /// </summary>
    public RopeScalingConfig RopeScaling(int maxPositions, int rotaryPairs, bool phi3)
    {
        if (RopeParameters() is JsonElement parameters)
        {
            return new ConfigReader(root, source, RopeParametersField).ScalingOf(parameters, maxPositions, rotaryPairs, phi3);
        }
        if (!root.TryGetProperty("rope_scaling", out JsonElement s) || s.ValueKind == JsonValueKind.Null)
        {
            return new RopeScalingConfig(RopeScalingKind.None);
        }
        if (s.ValueKind != JsonValueKind.Object)
        {
            throw Error($"field '{ropeBlock}' must be an object or null, found {Describe(s)}");
        }
        return ScalingOf(s, maxPositions, rotaryPairs, phi3);
    }

    /// <summary>
    /// Refuses a rope_scaling whose 'type' and 'rope_type' name different scalings: transformers 4 copies 'type' over
    /// 'rope_type', while transformers 5 moves rope_scaling into rope_parameters and keeps its 'rope_type', so the two
    /// would run different models from it. Names that mean one scaling pass (on a Phi-3, su and yarn are longrope).
    /// </summary>
    private void RequireOneScalingNamed(JsonElement s, bool phi3)
    {
        if (s.TryGetProperty("type", out JsonElement older) && older.ValueKind == JsonValueKind.String
            && s.TryGetProperty("rope_type", out JsonElement newer) && newer.ValueKind == JsonValueKind.String
            && Meaning(older.GetString()!) != Meaning(newer.GetString()!))
        {
            throw Error($"field '{ropeBlock}' names two scalings: 'type' is '{older.GetString()}' and 'rope_type' is '{newer.GetString()}'; transformers 4 reads 'type' and 5 'rope_type', so they would run different models: expected one key, or both the same");
        }

        string Meaning(string type) => phi3 && type is "su" or "yarn" ? "longrope" : type;
    }

    /// <summary>The scaling that the object <paramref name="s"/> (rope_scaling or rope_parameters) names.</summary>
    private RopeScalingConfig ScalingOf(JsonElement s, int maxPositions, int rotaryPairs, bool phi3)
    {
        if (ropeBlock != RopeParametersField)
        {
            RequireOneScalingNamed(s, phi3);
        }
        // transformers 4 copies the older 'type' over 'rope_type' where both are given (here they agree, or one is null;
        // Phi3Config reads 'type' alone); transformers 5's standardize_rope_params keeps 'rope_type' and falls back to 'type'.
        string key = ropeBlock == RopeParametersField
            ? s.TryGetProperty("type", out _) && !s.TryGetProperty("rope_type", out _) ? "type" : "rope_type"
            : s.TryGetProperty("type", out _) ? "type" : "rope_type";
        JsonElement t = s.TryGetProperty(key, out JsonElement named) ? named : default;
        if (t.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.String))
        {
            throw Error($"field '{ropeBlock}.{key}' must be a string, found {Describe(t)}");
        }
        string? type = t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        bool settingsOnly = ropeBlock == RopeParametersField;
        if (type is null && s.EnumerateObject().Any(field => !(settingsOnly && IsRopeSetting(field.Name))))
        {
            // transformers cannot read it either (no rope_type picks no frequencies): the factors would be lost.
            throw Error($"field '{ropeBlock}' names no scaling ('{key}' is {(t.ValueKind == JsonValueKind.Null ? "null" : "missing")}), so its fields say nothing; name it, e.g. \"rope_type\": \"linear\"");
        }
        if (phi3 && type is "linear" or "llama3" or "dynamic")
        {
            throw Error($"{ropeBlock} type '{type}' is not one Phi3ForCausalLM takes (Phi3Config accepts longrope, or its older names su and yarn)");
        }
        return type switch
        {
            "default" or null => new RopeScalingConfig(RopeScalingKind.None),
            "longrope" or "su" => LongRope(s, maxPositions, rotaryPairs, phi3),
            "yarn" when phi3 => LongRope(s, maxPositions, rotaryPairs, phi3),
            "yarn" => Yarn(s, maxPositions),
            "linear" => new RopeScalingConfig(RopeScalingKind.Linear, RequiredScaling(s, "factor", type)),
            "dynamic" => DynamicNtk(s),
            // transformers' _validate_llama3_parameters requires all four.
            "llama3" => new RopeScalingConfig(
                RopeScalingKind.Llama3,
                RequiredScaling(s, "factor", type),
                RequiredScaling(s, "low_freq_factor", type),
                RequiredScaling(s, "high_freq_factor", type),
                OptionalInt(s, "original_max_position_embeddings", $"{ropeBlock}.original_max_position_embeddings", min: 1)
                    ?? throw Error($"{ropeBlock} type 'llama3' needs field '{ropeBlock}.original_max_position_embeddings' (an integer ≥ 1)")),
            _ => throw Error($"{ropeBlock} type '{type}' is not supported; supported: default, linear, dynamic, llama3, longrope, yarn"),
        };
    }

    /// <summary>
    /// Dynamic NTK scaling (HF <c>dynamic</c>: Yi, InternLM 2): transformers raises the base to
    /// θ · (factor · L / max_position_embeddings − (factor − 1))^(d / (d − 2)) with L the longest sequence seen, but
    /// never less than max_position_embeddings, where the power is 1. No run of Copal goes beyond the model's context
    /// (<see cref="LlamaConfig.MaxPositionEmbeddings"/>), so the frequencies are always the unscaled ones: what
    /// transformers computes for every sequence within the context. The factor is still required and checked, as
    /// transformers' validation requires it.
    /// </summary>
    private RopeScalingConfig DynamicNtk(JsonElement s)
    {
        RequiredScaling(s, "factor", "dynamic");
        return new RopeScalingConfig(RopeScalingKind.None);
    }

    private double RequiredScaling(JsonElement s, string name, string type) =>
        ScalingDouble(s, name) ?? throw Error($"{ropeBlock} type '{type}' needs field '{ropeBlock}.{name}' (a positive number)");

    /// <summary>
    /// HF <c>_compute_longrope_parameters</c>'s inputs, checked as Phi3Config checks them. The original context is
    /// the top-level <c>original_max_position_embeddings</c> (Phi3Config's default 4,096; other classes: the model's
    /// context); rope_scaling's own copy is not read, as transformers 4 does not (transformers 5 moved the field into
    /// rope_parameters, whose copy is read where the top level has none). With the original context given, the
    /// factor is the ratio of the contexts, not rope_scaling's factor.
    /// </summary>
    private RopeScalingConfig LongRope(JsonElement s, int maxPositions, int rotaryPairs, bool phi3)
    {
        // At least 2: the default attention factor divides by its logarithm.
        int? given = OptionalInt("original_max_position_embeddings", min: 2)
            ?? (ropeBlock == RopeParametersField ? OptionalInt(s, "original_max_position_embeddings", $"{ropeBlock}.original_max_position_embeddings", min: 2) : null)
            ?? (phi3 ? 4096 : null);
        int original = given ?? maxPositions;
        double? attentionGiven = ScalingDouble(s, "attention_factor");
        // Without the original context the factor is rope_scaling's, which the derived attention factor then needs.
        double factor = given is int o ? (double)maxPositions / o
            : ScalingDouble(s, "factor") ?? (attentionGiven is null
                ? throw Error($"{ropeBlock} type 'longrope' needs 'original_max_position_embeddings', '{ropeBlock}.factor' or '{ropeBlock}.attention_factor'")
                : 1.0);
        if (given is not null && ropeBlock == RopeParametersField && attentionGiven is null
            && ScalingDouble(s, "factor") is double stated && stated != factor)
        {
            // transformers 4 takes the ratio of the contexts here, transformers 5 a factor rope_parameters states: the
            // derived attention factor (cos and sin's scale) would differ between them.
            throw Error(FormattableString.Invariant(
                $"field '{ropeBlock}.factor' is {stated} but max_position_embeddings / original_max_position_embeddings is {maxPositions} / {original} = {factor}; transformers 4 takes the ratio for longrope and 5 the stated factor: expected them equal, or no factor"));
        }
        double attention = attentionGiven ?? RopeScalingConfig.LongRopeAttentionFactor(factor, original);
        return new RopeScalingConfig(RopeScalingKind.LongRope, factor, OriginalMaxPositionEmbeddings: original)
        {
            ShortFactors = Factors(s, "short_factor", rotaryPairs),
            LongFactors = Factors(s, "long_factor", rotaryPairs),
            AttentionFactor = attention,
        };
    }

    private IReadOnlyList<double> Factors(JsonElement s, string name, int rotaryPairs)
    {
        if (!s.TryGetProperty(name, out JsonElement e) || e.ValueKind != JsonValueKind.Array)
        {
            throw Error($"{ropeBlock}.{name} must be a list of positive numbers for longrope, found {(s.TryGetProperty(name, out JsonElement f2) ? Describe(f2) : "none")}");
        }
        if (e.GetArrayLength() != rotaryPairs)
        {
            throw Error(FormattableString.Invariant($"{ropeBlock}.{name} must hold one factor per rotated pair of a head ({rotaryPairs}), found {e.GetArrayLength()}"));
        }
        var factors = new double[rotaryPairs];
        for (int i = 0; i < rotaryPairs; i++)
        {
            JsonElement f = e[i];
            factors[i] = f.ValueKind == JsonValueKind.Number && f.TryGetDouble(out double v) ? v : double.NaN;
            if (!double.IsFinite(factors[i]) || factors[i] <= 0)
            {
                throw Error(FormattableString.Invariant($"{ropeBlock}.{name}[{i}] must be a positive number, found {Describe(f)}"));
            }
            RequireSingleRange(FormattableString.Invariant($"{ropeBlock}.{name}[{i}]"), f, factors[i]);
        }
        return factors;
    }

    private static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => $"\"{e.GetString()}\"",
        JsonValueKind.Number => e.GetRawText(),
        // The value itself (a bos_token_id of [1, 2] says more than "array"), cut short where it is long.
        JsonValueKind.Array or JsonValueKind.Object => Compact(e),
        _ => e.ValueKind.ToString().ToLowerInvariant(),
    };

    /// <summary>A list or object on one line (config.json spreads them over many), at most 60 characters.</summary>
    private static string Compact(JsonElement e)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            e.WriteTo(writer);
        }
        string json = System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
        return json.Length <= 60 ? json : json[..57] + "...";
    }
}
