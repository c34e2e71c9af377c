using System.Globalization;
using System.Text.Json;
using Copal.Model.Serving;
using Microsoft.Extensions.AI;

namespace Copal.Model.Chat;

// ChatOptions.AdditionalProperties: the fields of OpenAI's, vLLM's and llama.cpp's that ChatOptions has no property
// for, read as copal serve reads them (min_p, repetition_penalty, logit_bias, chat_template_kwargs), and those copal
// does not implement refused when set to change the reply.
public sealed partial class CopalChatClient
{
    /// <summary>
    /// AdditionalProperties is where a caller of an OpenAI-compatible server puts the fields of vLLM's and llama.cpp's
    /// that ChatOptions has no property for: those copal does not implement, set to a value that would change the reply
    /// (typical_p 0.5, continue_final_message true), are refused as the server refuses them, not ignored.
    /// </summary>
    private static void RefuseOtherServersFields(ChatOptions? options)
    {
        if (options?.AdditionalProperties is not { Count: > 0 } extra)
        {
            return;
        }
        JsonElement? Field(string name) => extra.TryGetValue(name, out object? value) ? AsJson(value) : null;
        if ((OtherServersFields.FirstSet(Field) ?? OtherServersFields.FirstSet(Field, chatFields: true)) is (string name, JsonElement e, string instead))
        {
            // A string as written, not as JSON escapes it (a value serialized here has '+' as \u002B); a value JSON
            // cannot hold, by the words AsJson put in its place.
            string shown = e.ValueKind != JsonValueKind.String ? e.GetRawText()
                : extra[name] is string or JsonElement { ValueKind: JsonValueKind.String } ? $"\"{e.GetString()}\"" : e.GetString()!;
            throw new NotSupportedException($"ChatOptions.AdditionalProperties[\"{name}\"] is not supported by copal, got {(shown.Length <= 40 ? shown : shown[..37] + "...")}; {instead}");
        }
    }

    // A value as the server would read it from JSON. One that cannot be written as JSON is no neutral value either: it
    // stands as words naming it (NaN, Infinity, a Stream). A NaN or an infinity anywhere in the value makes the
    // serializer throw ArgumentException; a default JsonElement holds no value, and its raw text throws.
    private static JsonElement? AsJson(object? value)
    {
        if (value is JsonElement { ValueKind: JsonValueKind.Undefined })
        {
            return Words("an undefined JsonElement");
        }
        if (value is null or JsonElement)
        {
            return (JsonElement?)value;
        }
        try
        {
            return JsonSerializer.SerializeToElement(value, value.GetType(), AIJsonUtilities.DefaultOptions);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or JsonException or InvalidOperationException)
        {
            return Words(value is double or float ? ((IFormattable)value).ToString(null, CultureInfo.InvariantCulture) : $"a {value.GetType().Name}");
        }

        static JsonElement Words(string text) => JsonSerializer.SerializeToElement(text, AIJsonUtilities.DefaultOptions);
    }

    /// <summary>
    /// A number ChatOptions has no property for, from AdditionalProperties as vLLM and copal's server take it:
    /// "repetition_penalty" (HF's) or "min_p"; null when absent.
    /// </summary>
    private static float? AdditionalNumber(ChatOptions? options, string name) =>
        options?.AdditionalProperties?.TryGetValue(name, out object? value) != true ? null : Number(value, name);

    // Any numeric type, as the other servers' fields are read (AsJson): a short is as much a number as an int.
    private static float Number(object? value, string name) => value switch
    {
        float x => x,
        double x => (float)x,
        Half x => (float)x,
        int x => x,
        long x => x,
        short x => x,
        sbyte x => x,
        byte x => x,
        ushort x => x,
        uint x => x,
        ulong x => x,
        decimal x => (float)x,
        // What ChatOptions hold when they were read from JSON.
        System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.Number } x => x.GetSingle(),
        // Named as the entry the caller set, as RequireInRange names a number out of range.
        _ => throw new CompletionRequestException(name, $"ChatOptions.{s_optionOf[name]}: {name} must be a number, got {value?.GetType().Name ?? "null"}"),
    };

    /// <summary>
    /// AdditionalProperties["logit_bias"], OpenAI's logit_bias, which ChatOptions has no property for: a dictionary
    /// from token ids (integers, or strings of them as JSON writes keys) to numbers, or a JSON object; null when
    /// absent. Whether an id is one the model can choose, the engine checks.
    /// </summary>
    private static Dictionary<int, float>? LogitBias(ChatOptions? options)
    {
        if (options?.AdditionalProperties?.TryGetValue("logit_bias", out object? value) != true || value is null)
        {
            return null;
        }
        if (value is System.Text.Json.Nodes.JsonObject node)
        {
            value = System.Text.Json.JsonSerializer.SerializeToElement(node);
        }
        IEnumerable<(object Key, object? Value)> entries = value switch
        {
            System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.Object } e => e.EnumerateObject().Select(p => ((object)p.Name, (object?)p.Value)),
            System.Collections.IDictionary d => Entries(d),
            _ => throw new CompletionRequestException("logit_bias", $"logit_bias must be a dictionary of token ids to numbers or a JSON object, got {value.GetType().Name}"),
        };
        var biases = new Dictionary<int, float>();
        foreach ((object key, object? bias) in entries)
        {
            int id = key switch
            {
                int i => i,
                long l when l is >= 0 and <= int.MaxValue => (int)l,
                string text when int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int parsed) => parsed,
                _ => throw new CompletionRequestException("logit_bias", $"logit_bias keys must be token ids, got {key}"),
            };
            if (!biases.TryAdd(id, Number(bias, "logit_bias")))
            {
                throw new CompletionRequestException("logit_bias", $"logit_bias names token {id} twice; give each token once");
            }
        }
        return biases;
    }

    // IDictionary's own enumerator gives DictionaryEntry; a generic dictionary's IEnumerable gives KeyValuePair instead.
    private static List<(object Key, object? Value)> Entries(System.Collections.IDictionary dictionary)
    {
        var entries = new List<(object, object?)>(dictionary.Count);
        foreach (System.Collections.DictionaryEntry entry in dictionary)
        {
            entries.Add((entry.Key, entry.Value));
        }
        return entries;
    }

    /// <summary>
    /// AdditionalProperties["chat_template_kwargs"], as the OpenAI-compatible servers name it: variables for the
    /// chat template (Qwen3's enable_thinking), a dictionary with string keys (any value type) or a JSON object
    /// (JsonElement or JsonObject; a name given twice keeps its last value); null when absent.
    /// </summary>
    private static IReadOnlyDictionary<string, object?>? TemplateArguments(ChatOptions? options)
    {
        if (options?.AdditionalProperties?.TryGetValue("chat_template_kwargs", out object? value) != true || value is null)
        {
            return null;
        }
        if (value is System.Text.Json.Nodes.JsonObject node)
        {
            value = System.Text.Json.JsonSerializer.SerializeToElement(node);
        }
        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
        switch (value)
        {
            case System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.Object } e:
                return ChatTemplateArguments.FromJson(e);
            case System.Collections.IDictionary d when d.Keys.Cast<object>().All(k => k is string):
                foreach (System.Collections.DictionaryEntry entry in d)
                {
                    arguments[(string)entry.Key] = entry.Value;
                }
                return arguments;
            case IEnumerable<KeyValuePair<string, object?>> pairs:
                foreach ((string name, object? v) in pairs)
                {
                    arguments[name] = v;
                }
                return arguments;
            default:
                throw new ArgumentException($"AdditionalProperties[\"chat_template_kwargs\"] must be a dictionary with string keys or a JSON object, got {value.GetType().Name}", nameof(options));
        }
    }
}
