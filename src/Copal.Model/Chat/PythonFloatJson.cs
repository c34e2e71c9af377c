using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Copal.Model.ChatTemplates;
using Microsoft.Extensions.AI;

namespace Copal.Model.Chat;

/// <summary>
/// JSON options that write .NET floating-point numbers as Python's <c>json.dumps</c> writes floats (<c>1.0</c>,
/// <c>1e+16</c>), for a call's arguments and results given as .NET objects: read back, arguments stay floats, as
/// json.loads gives vLLM the same call sent over HTTP, and a result is the text Python's json.dumps writes. System.Text.Json writes a double 1.0 as <c>1</c> and 1e16 as
/// <c>10000000000000000</c>, which read back as integers (the second beyond what a template takes).
/// </summary>
internal static class PythonFloatJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(AIJsonUtilities.DefaultOptions);
        options.Converters.Add(new DoubleConverter());
        options.Converters.Add(new SingleConverter());
        options.Converters.Add(new DecimalConverter());
        options.Converters.Add(new NodeConverter());
        options.MakeReadOnly();
        return options;
    }

    private static void Write(Utf8JsonWriter writer, double value)
    {
        if (!double.IsFinite(value))
        {
            throw new NonFiniteException(value);
        }
        writer.WriteRawValue(PyText.JsonFloat(value));
    }

    /// <summary>
    /// A number JSON cannot hold (NaN, an infinity), refused as System.Text.Json refuses it, for the caller to name the
    /// value and where it was given rather than System.Text.Json's JsonNumberHandling option.
    /// </summary>
    internal sealed class NonFiniteException(double value)
        : ArgumentException(FormattableString.Invariant($"{value} is not a number JSON can hold (its numbers are finite)"))
    {
        public double Value { get; } = value;
    }

    private sealed class DoubleConverter : JsonConverter<double>
    {
        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetDouble();

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options) => PythonFloatJson.Write(writer, value);
    }

    private sealed class SingleConverter : JsonConverter<float>
    {
        public override float Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetSingle();

        public override void Write(Utf8JsonWriter writer, float value, JsonSerializerOptions options) => PythonFloatJson.Write(writer, ValueConverter.Widen(value));
    }

    /// <summary>
    /// JSON nodes, walked so that a <see cref="JsonValue"/> made from a .NET double, float or decimal is written by the
    /// converters above: System.Text.Json writes such a value with its own converter whatever the options hold (18.0
    /// as 18). A value parsed from JSON text keeps its text.
    /// </summary>
    private sealed class NodeConverter : JsonConverter<JsonNode>
    {
        public override bool CanConvert(Type typeToConvert) => typeof(JsonNode).IsAssignableFrom(typeToConvert);

        public override JsonNode? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => JsonNode.Parse(ref reader);

        public override void Write(Utf8JsonWriter writer, JsonNode value, JsonSerializerOptions options)
        {
            switch (value)
            {
                case JsonObject o:
                    writer.WriteStartObject();
                    foreach ((string key, JsonNode? item) in o)
                    {
                        writer.WritePropertyName(key);
                        WriteItem(writer, item, options);
                    }
                    writer.WriteEndObject();
                    break;
                case JsonArray a:
                    writer.WriteStartArray();
                    foreach (JsonNode? item in a)
                    {
                        WriteItem(writer, item, options);
                    }
                    writer.WriteEndArray();
                    break;
                case JsonValue v when v.TryGetValue(out JsonElement element):
                    element.WriteTo(writer);
                    break;
                case JsonValue v when v.TryGetValue(out object? held) && held is double or float or decimal:
                    JsonSerializer.Serialize(writer, held, held.GetType(), options);
                    break;
                default:
                    value.WriteTo(writer, options);
                    break;
            }
        }

        private void WriteItem(Utf8JsonWriter writer, JsonNode? item, JsonSerializerOptions options)
        {
            if (item is null)
            {
                writer.WriteNullValue();
            }
            else
            {
                Write(writer, item, options);
            }
        }
    }

    private sealed class DecimalConverter : JsonConverter<decimal>
    {
        public override decimal Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetDecimal();

        // A decimal is a float to the template, as the converter makes one given directly.
        public override void Write(Utf8JsonWriter writer, decimal value, JsonSerializerOptions options) => PythonFloatJson.Write(writer, (double)value);
    }
}
