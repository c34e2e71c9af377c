using System.Globalization;
using System.Text;
using System.Text.Json;
using Copal.Model.Generation.Constraints.Schema.Patterns;

namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>A schema's leaf values: strings (lengths, formats), numbers' bounds, enum and const literals, and counts.</summary>
internal sealed partial class JsonSchemaCompiler
{
    private static int Count(JsonElement schema, string keyword, string path, int absent)
    {
        if (!schema.TryGetProperty(keyword, out JsonElement value))
        {
            return absent;
        }
        // Read exactly: a decimal rounds 2.00000000000000000000000000000001 to 2, and 1e-400 to 0.
        if (value.ValueKind != JsonValueKind.Number || !ExactDecimal.TryParse(value.GetRawText(), out decimal d) || d != decimal.Truncate(d) || d < 0)
        {
            throw new SchemaNotSupportedException(keyword, path, $"{keyword} must be a non-negative integer, got {value.GetRawText()}");
        }
        if (d > MaxCount)
        {
            throw new SchemaNotSupportedException(keyword, path, $"{keyword} {d} is past the largest count taken, {MaxCount}");
        }
        return (int)d;
    }

    // minimum, maximum and their exclusive forms as one range (the tightest of each side); an integer's as the least
    // and greatest whole values they allow.
    private static NumberRange Bounds(JsonElement schema, string path, bool integer)
    {
        decimal? least = null, most = null;
        bool leastOut = false, mostOut = false;
        foreach (string bound in s_bounds)
        {
            if (!schema.TryGetProperty(bound, out JsonElement value))
            {
                continue;
            }
            if (value.ValueKind != JsonValueKind.Number)
            {
                throw new SchemaNotSupportedException(bound, path, $"{bound} must be a number, got {Cut(value.GetRawText())}");
            }
            if (!ExactDecimal.TryParse(value.GetRawText(), out decimal d))
            {
                throw new SchemaNotSupportedException(bound, path, $"{bound} {Cut(value.GetRawText())} is past the bounds copal holds to exactly (below 10^17 in size, at most 28 significant digits)");
            }
            if (Math.Abs(d) >= 100_000_000_000_000_000m)
            {
                throw new SchemaNotSupportedException(bound, path, $"{bound} {Cut(value.GetRawText())} is past the bounds copal holds to (below 10^17 in size)");
            }
            if (!integer && decimal.Round(d, NumberRange.Scale) != d)
            {
                throw new SchemaNotSupportedException(bound, path, $"{bound} {Cut(value.GetRawText())} has more than {NumberRange.Scale} decimals, which copal does not hold a number to");
            }
            bool lower = bound.EndsWith("inimum", StringComparison.Ordinal), exclusive = bound.StartsWith("exclusive", StringComparison.Ordinal);
            if (integer)
            {
                // The whole values allowed: a bound of 1.5 lets 2 be the least; an exclusive 3 lets 4.
                (d, exclusive) = (lower ? (exclusive ? decimal.Floor(d) + 1 : decimal.Ceiling(d)) : (exclusive ? decimal.Ceiling(d) - 1 : decimal.Floor(d)), false);
            }
            if (lower && (least is null || d > least || (d == least && exclusive)))
            {
                (least, leastOut) = (d, exclusive);
            }
            else if (!lower && (most is null || d < most || (d == most && exclusive)))
            {
                (most, mostOut) = (d, exclusive);
            }
        }
        if (least > most || (least == most && (leastOut || mostOut)))
        {
            throw new SchemaNotSupportedException("minimum", path, $"no {(integer ? "integer" : "number")} is {(leastOut ? "above" : "at least")} {least} and {(mostOut ? "below" : "at most")} {most}");
        }
        return new NumberRange(Scaled(least), leastOut, Scaled(most), mostOut);
    }

    private static Int128? Scaled(decimal? bound) => bound is decimal d ? (Int128)(d * 1_000_000m) : null;

    private static SchemaClasses StringClasses(JsonElement schema, string path)
    {
        int min = Count(schema, "minLength", path, 0);
        int max = Count(schema, "maxLength", path, -1);
        if (max >= 0 && min > max)
        {
            throw new SchemaNotSupportedException("minLength", path, $"minLength {min} is more than maxLength {max}: no string fits");
        }
        bool patterned = schema.TryGetProperty("pattern", out JsonElement pattern);
        StringFormat format = StringFormat.None;
        if (schema.TryGetProperty("format", out JsonElement name))
        {
            string? formatName = name.ValueKind == JsonValueKind.String ? name.GetString() : null;
            if (patterned)
            {
                throw new SchemaNotSupportedException("pattern", path, "pattern beside format is not taken; give one of them");
            }
            if (formatName is not null && FormatPatterns.Of(formatName) is (string formatPattern, int longest))
            {
                // The format's own most, or a tighter maxLength.
                int most = longest < 0 || (max >= 0 && max < longest) ? max : longest;
                return PatternClasses(formatPattern, min, most, "format", path, $"format \"{formatName}\"", subset: true);
            }
            format = (formatName is null ? null : StringFormats.Of(formatName))
                ?? throw new SchemaNotSupportedException("format", path, $"format {Cut(name.GetRawText())} is not taken: copal holds strings to date, date-time, uuid, uri, email, hostname, ipv4, ipv6, time and duration");
            if (schema.TryGetProperty("minLength", out _) || schema.TryGetProperty("maxLength", out _))
            {
                throw new SchemaNotSupportedException("format", path, "format beside minLength or maxLength is not taken (a format fixes the length)");
            }
        }
        if (patterned)
        {
            if (pattern.ValueKind != JsonValueKind.String)
            {
                throw new SchemaNotSupportedException("pattern", path, $"pattern must be a string, got {Cut(pattern.GetRawText())}");
            }
            return PatternClasses(pattern.GetString()!, min, max, "pattern", path, $"pattern {Cut(pattern.GetRawText())}");
        }
        return new SchemaClasses { AnyString = true, MinLength = min, MaxLength = max, Format = format };
    }

    // A string held to a pattern (the schema's, or a format's), its lengths folded into the pattern's automaton; no
    // string where none matches.
    private static SchemaClasses PatternClasses(string pattern, int min, int max, string keyword, string path, string what, bool subset = false)
    {
        StringPattern? compiled;
        try
        {
            compiled = StringPattern.Compile(pattern, min, max, subset);
        }
        catch (PatternNotTakenException e)
        {
            throw new SchemaNotSupportedException(keyword, path, $"{what}: {e.Message}");
        }
        return compiled is null ? SchemaClasses.None : new SchemaClasses { AnyString = true, Pattern = compiled };
    }

    private static SchemaClasses EnumClasses(JsonElement schema, string path, string[] types)
    {
        if (schema.TryGetProperty("enum", out _) && schema.TryGetProperty("const", out _))
        {
            throw new SchemaNotSupportedException("const", path, "const beside enum is not taken; give one of them");
        }
        if (s_typeKeywords.FirstOrDefault(k => schema.TryGetProperty(k, out _)) is string beside)
        {
            throw new SchemaNotSupportedException(beside, path, $"'{beside}' beside enum or const is not taken: list the values that fit");
        }
        string keyword = schema.TryGetProperty("const", out JsonElement constant) ? "const" : "enum";
        IEnumerable<JsonElement> values;
        if (keyword == "const")
        {
            values = [constant];
        }
        else
        {
            JsonElement list = schema.GetProperty("enum");
            if (list.ValueKind != JsonValueKind.Array)
            {
                throw new SchemaNotSupportedException("enum", path, "enum must be an array of values");
            }
            values = list.EnumerateArray();
        }
        var literals = new List<SchemaLiteral>();
        var seen = new HashSet<string>();
        foreach (JsonElement value in values)
        {
            SchemaLiteral literal = value.ValueKind switch
            {
                JsonValueKind.String => new SchemaLiteral(Quote(value.GetString()!, path), LiteralKind.String, value.GetRawText()),
                JsonValueKind.Number => new SchemaLiteral(Encoding.UTF8.GetBytes(value.GetRawText()), LiteralKind.Number, value.GetRawText()),
                JsonValueKind.True => Keyword(LiteralKind.True),
                JsonValueKind.False => Keyword(LiteralKind.False),
                JsonValueKind.Null => Keyword(LiteralKind.Null),
                _ => throw new SchemaNotSupportedException(keyword, path, $"{keyword} value {Cut(value.GetRawText())} is an {value.ValueKind.ToString().ToLowerInvariant()}: copal takes strings, numbers, booleans and null"),
            };
            bool fits = literal.Kind switch
            {
                LiteralKind.String => types.Contains("string"),
                LiteralKind.Number => types.Contains("number") || (types.Contains("integer") && IsIntegral(literal.Text)),
                LiteralKind.Null => types.Contains("null"),
                _ => types.Contains("boolean"),
            };
            if (fits && seen.Add(Encoding.UTF8.GetString(literal.Bytes)))
            {
                literals.Add(literal);
            }
        }
        return new SchemaClasses { Literals = literals };
    }

    private static bool IsIntegral(string number) =>
        double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && Math.Floor(d) == d && !double.IsInfinity(d);
}
