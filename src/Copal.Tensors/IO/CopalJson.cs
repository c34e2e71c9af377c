using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Copal.Tensors.IO;

/// <summary>
/// The JSON settings of every file and <c>--json</c> output Copal writes, made in this one place. JSON has no number
/// for NaN or ±Inf: they are written as null, never as the strings "NaN" or "Infinity" that strict parsers reject and
/// lenient ones take for text. Where a value can be missing, the writer says why beside it. Reading takes null as NaN
/// and still accepts the named literals of files written before.
/// </summary>
internal static class CopalJson
{
    /// <summary>
    /// New settings: <paramref name="indented"/> output, snake_case property names unless <paramref name="snakeCase"/>
    /// is false, null-valued properties left out when <paramref name="omitNulls"/>, enums as snake_case strings when
    /// <paramref name="enumsAsStrings"/>.
    /// </summary>
    public static JsonSerializerOptions Create(bool indented = true, bool snakeCase = true, bool omitNulls = false, bool enumsAsStrings = false)
    {
        var options = new JsonSerializerOptions
        {
            WriteIndented = indented,
            PropertyNamingPolicy = snakeCase ? JsonNamingPolicy.SnakeCaseLower : null,
            DefaultIgnoreCondition = omitNulls ? JsonIgnoreCondition.WhenWritingNull : JsonIgnoreCondition.Never,
            // Tokens and text as they are ("▁Once", not "\u2581Once"): the output is UTF-8 data, not HTML.
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            // Named, as the serializer would fill it in at first use: a JSON node that holds a typed value (serve's
            // /tokenize writes its ids as one value rather than a node per id) is written through the settings' resolver.
            TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
        };
        options.Converters.Add(new FiniteDoubleConverter());
        options.Converters.Add(new FiniteSingleConverter());
        if (enumsAsStrings)
        {
            options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        }
        return options;
    }

    // Null for a non-finite double; a value type's converter also sees null tokens when reading.
    private sealed class FiniteDoubleConverter : JsonConverter<double>
    {
        public override bool HandleNull => true;

        public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => ReadNumber(ref reader);

        public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
        {
            if (double.IsFinite(value))
            {
                writer.WriteNumberValue(value);
            }
            else
            {
                writer.WriteNullValue();
            }
        }
    }

    private sealed class FiniteSingleConverter : JsonConverter<float>
    {
        public override bool HandleNull => true;

        public override float Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => (float)ReadNumber(ref reader);

        public override void Write(Utf8JsonWriter writer, float value, JsonSerializerOptions options)
        {
            if (float.IsFinite(value))
            {
                writer.WriteNumberValue(value);
            }
            else
            {
                writer.WriteNullValue();
            }
        }
    }

    private static double ReadNumber(ref Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.Number => reader.GetDouble(),
        JsonTokenType.Null => double.NaN,
        JsonTokenType.String => reader.GetString() switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            string s => throw new JsonException($"expected a number, got the string \"{s}\""),
            null => double.NaN,
        },
        JsonTokenType t => throw new JsonException($"expected a number, got {t.ToString().ToLower(CultureInfo.InvariantCulture)}"),
    };
}
