using System.Globalization;
using System.Text;
using System.Text.Json;
using Copal.Model.Generation.Constraints.Schema.Patterns;

namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>Merging branches (anyOf, oneOf, a list of types) into one value node, while each first byte still picks one branch.</summary>
internal sealed partial class JsonSchemaCompiler
{
    // Branches merge while each first byte still picks one branch (objects of several shapes: while a discriminator
    // tells them apart); oneOf's branches must also never share a value.
    private SchemaClasses Merge(List<SchemaClasses> parts, bool exclusive, string keyword, string path, string? discriminator = null)
    {
        int arr = -1, arrFrom = -1, strFrom = -1, numFrom = -1;
        var objects = new List<(int Shape, int From)>();
        bool anyString = false;
        StringFormat format = StringFormat.None;
        StringPattern? pattern = null;
        List<PatternSource>? sources = null;
        int minLength = 0, maxLength = -1;
        NumberKind number = NumberKind.None;
        NumberRange? integers = null, numbers = null;
        bool anyNumber = false;
        var literals = new List<SchemaLiteral>();
        var literalFrom = new Dictionary<string, int>();
        var numberFrom = new Dictionary<string, int>();
        var shared = new HashSet<string>(StringComparer.Ordinal);
        var sharedNumbers = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < parts.Count; i++)
        {
            SchemaClasses c = parts[i];
            if (c.Object >= 0)
            {
                int same = objects.FindIndex(o => o.Shape == c.Object);
                if (same >= 0 && exclusive)
                {
                    // The same shape twice (a $ref listed in two branches): every object it takes matches both.
                    throw Overlap(keyword, path, objects[same].From, i, "an object", "oneOf fails a value both branches take");
                }
                if (same < 0)
                {
                    objects.Add((c.Object, i));
                }
            }
            if (c.Array >= 0)
            {
                if (arr >= 0 && arr != c.Array)
                {
                    throw Overlap(keyword, path, arrFrom, i, "an array", "copal takes one array shape per value");
                }
                if (arr >= 0 && exclusive)
                {
                    throw Overlap(keyword, path, arrFrom, i, "an array", "oneOf fails a value both branches take");
                }
                (arr, arrFrom) = (c.Array, i);
            }
            if (c.AnyString)
            {
                if (anyString && (format != StringFormat.None || c.Format != StringFormat.None))
                {
                    throw Overlap(keyword, path, strFrom, i, "strings", "copal takes one string format per value (date and date-time join no other string branch)");
                }
                bool lengthsMeet = (maxLength < 0 || c.MinLength <= maxLength + 1) && (c.MaxLength < 0 || minLength <= c.MaxLength + 1);
                if (anyString && (sources is not null || pattern is not null || c.Pattern is not null || exclusive || !lengthsMeet))
                {
                    // Strings of patterns (or of length ranges with a gap between, or under oneOf) in several branches:
                    // compiled, after the branches, into one automaton of their union, or for oneOf of the strings
                    // exactly one branch takes.
                    // A union within the union is joined branch by branch only where both are anyOf: a oneOf's
                    // branches are not the oneOf's strings, and an anyOf within a oneOf counts once, not per branch.
                    if (new[] { pattern, c.Pattern }.FirstOrDefault(p => p is { Sources.Count: > 1 } && (p.Exclusive || exclusive)) is not null)
                    {
                        throw Overlap(keyword, path, strFrom, i, "strings", "copal joins string branches of anyOf within anyOf, not a oneOf within another union or an anyOf within a oneOf");
                    }
                    sources ??= [.. pattern?.Sources ?? [new PatternSource("", minLength, maxLength)]];
                    sources.AddRange(c.Pattern?.Sources ?? [new PatternSource("", c.MinLength, c.MaxLength)]);
                    (pattern, minLength, maxLength) = (null, 0, -1);
                }
                else if (anyString)
                {
                    // Length ranges that meet are one range.
                    (minLength, maxLength) = (Math.Min(minLength, c.MinLength), maxLength < 0 || c.MaxLength < 0 ? -1 : Math.Max(maxLength, c.MaxLength));
                }
                else
                {
                    (format, pattern, minLength, maxLength) = (c.Format, c.Pattern, c.MinLength, c.MaxLength);
                }
                (anyString, strFrom) = (true, i);
            }
            if (c.Number != NumberKind.None)
            {
                if (number != NumberKind.None && exclusive)
                {
                    throw Overlap(keyword, path, numFrom, i, "numbers", "an integer is a number too, so oneOf would match both");
                }
                if (c.Number == NumberKind.Integer)
                {
                    integers = integers is null ? c.Range : integers.Value.UnionOfIntegers(c.Range)
                        ?? throw Overlap(keyword, path, numFrom, i, "integers", "copal takes one integer range per value (a gap lies between these)");
                }
                else if (c.Range.IsAll)
                {
                    anyNumber = true;
                }
                else
                {
                    numbers = numbers is null ? c.Range : throw Overlap(keyword, path, numFrom, i, "numbers", "copal takes one range of numbers per value");
                }
                number = (NumberKind)Math.Max((int)number, (int)c.Number);
                numFrom = i;
            }
            foreach (SchemaLiteral literal in c.Literals)
            {
                // A number is one value however it is written (1, 1.0 and 1e0 are equal to JSON Schema).
                if (exclusive && literal.Kind == LiteralKind.Number)
                {
                    string value = NumberValue(literal.Text);
                    if (numberFrom.TryGetValue(value, out int first) && first != i)
                    {
                        sharedNumbers.Add(value);
                    }
                    numberFrom.TryAdd(value, i);
                }
                string text = Encoding.UTF8.GetString(literal.Bytes);
                if (literalFrom.TryGetValue(text, out int from))
                {
                    if (exclusive && from != i)
                    {
                        shared.Add(text);
                    }
                    continue;
                }
                literalFrom[text] = i;
                literals.Add(literal);
            }
        }
        if (sources is not null)
        {
            try
            {
                pattern = StringPattern.Compile(sources, exclusive);
            }
            catch (PatternNotTakenException e)
            {
                throw Overlap(keyword, path, -1, -1, "strings", $"their union cannot be held to: {e.Message}");
            }
            // Under oneOf, every string one branch takes another may take too: then no string is valid.
            anyString = pattern is not null;
        }
        // oneOf fails a value two branches list (null beside untyped object branches, say): it is left out, never written.
        literals.RemoveAll(l => shared.Contains(Encoding.UTF8.GetString(l.Bytes)) || (l.Kind == LiteralKind.Number && sharedNumbers.Contains(NumberValue(l.Text))));
        // A literal the free string or number also writes is dropped (its text starts the same way); one it would not is refused.
        var kept = new List<SchemaLiteral>();
        foreach (SchemaLiteral literal in literals)
        {
            bool covered = literal.Kind switch
            {
                LiteralKind.String when anyString => true,
                LiteralKind.Number when number != NumberKind.None => true,
                _ => false,
            };
            if (!covered)
            {
                kept.Add(literal);
                continue;
            }
            bool writes = literal.Kind == LiteralKind.String
                ? format == StringFormat.None && Writes(StringOf(literal), minLength, maxLength, pattern)
                : RangeOf(number, integers, numbers, anyNumber, keyword, path, numFrom) is var range
                    && (number == NumberKind.Number || !literal.Text.AsSpan().ContainsAny(".eE"))
                    && (range.IsAll || (!literal.Text.AsSpan().ContainsAny("eE") && range.Contains(literal.Text)));
            if (exclusive || !writes)
            {
                throw Overlap(keyword, path, literal.Kind == LiteralKind.String ? strFrom : numFrom, literalFrom[Encoding.UTF8.GetString(literal.Bytes)],
                    literal.Kind == LiteralKind.String ? "strings" : "numbers", "copal takes either any " + (literal.Kind == LiteralKind.String ? "string" : "number") + " or listed ones per value");
            }
        }
        return new SchemaClasses
        {
            Object = objects.Count switch { 0 => -1, 1 => objects[0].Shape, _ => Union(objects, exclusive, keyword, path, discriminator) },
            Array = arr,
            AnyString = anyString,
            MinLength = minLength,
            MaxLength = maxLength,
            Format = format,
            Pattern = pattern,
            Number = number,
            Range = RangeOf(number, integers, numbers, anyNumber, keyword, path, numFrom),
            Literals = kept,
        };
    }

    // The range of merged numbers: the integers' (merged), a number's (where it holds the integers), or none where a
    // number of any value takes them in; a bounded number beside integers outside it is refused (their union is no one range).
    private static NumberRange RangeOf(NumberKind kind, NumberRange? integers, NumberRange? numbers, bool anyNumber, string keyword, string path, int from) =>
        kind switch
        {
            NumberKind.Integer => integers ?? NumberRange.All,
            NumberKind.Number when anyNumber => NumberRange.All,
            // Integers the numbers' range holds add nothing to it; others would make two ranges.
            NumberKind.Number when integers is not null && numbers is not null => numbers.Value.HoldsIntegers(integers.Value) ? numbers.Value
                : throw Overlap(keyword, path, from, from, "integers and a range of numbers", "copal takes one range of numbers per value"),
            NumberKind.Number => numbers ?? NumberRange.All,
            _ => NumberRange.All,
        };

    // A number literal's value as one text (trailing zeros and the exponent gone; past decimal's range, a double's
    // round trip, where numbers too close to tell apart read as one: oneOf is then refused, never wrongly taken).
    private static string NumberValue(string number) =>
        decimal.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out decimal d)
            ? d.ToString("G29", CultureInfo.InvariantCulture)
            : double.Parse(number, NumberStyles.Float, CultureInfo.InvariantCulture).ToString("R", CultureInfo.InvariantCulture);

    // Whether the free string writes the literal's value: its length in range, and the pattern (lengths folded in) matches it.
    private static bool Writes(string value, int min, int max, StringPattern? pattern)
    {
        int length = value.EnumerateRunes().Count();
        return length >= min && (max < 0 || length <= max) && (pattern is null || pattern.Matches(value));
    }

    private static string StringOf(SchemaLiteral literal)
    {
        using JsonDocument doc = JsonDocument.Parse(literal.Bytes);
        return doc.RootElement.GetString()!;
    }

    private static SchemaNotSupportedException Overlap(string keyword, string path, int a, int b, string what, string why) =>
        new(keyword, path, a == b || a < 0
            ? $"it allows {what} in ways that overlap: {why}"
            : $"branches {Math.Min(a, b)} and {Math.Max(a, b)} both allow {what}: {why}");
}
