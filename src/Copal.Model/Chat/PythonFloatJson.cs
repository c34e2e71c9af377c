using System.Text.Json;
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

    private sealed class DecimalConverter : JsonConverter<decimal>
    {
        public override decimal Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.GetDecimal();

        // A decimal is a float to the template, as the converter makes one given directly.
        public override void Write(Utf8JsonWriter writer, decimal value, JsonSerializerOptions options) => PythonFloatJson.Write(writer, (double)value);
    }
}
