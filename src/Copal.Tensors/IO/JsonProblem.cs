using System.Text.Json;
using System.Text.RegularExpressions;

namespace Copal.Tensors.IO;

/// <summary>
/// A JSON file's error as one line a person reads: where (line and byte, counted from 1 as editors count) and why.
/// System.Text.Json's message ends with its own coordinates, counted from 0 (" LineNumber: 0 | BytePositionInLine:
/// 8."), which would contradict the ones given here; they are cut, and a property path it names is kept.
/// </summary>
internal static partial class JsonProblem
{
    [GeneratedRegex(@"\s*(?:Path: (?<path>\S+) \| )?LineNumber: \d+ \| BytePositionInLine: \d+\.?\s*$")]
    private static partial Regex ReaderCoordinates();

    /// <summary>"at line 1, byte 9: ',' is an invalid start of a property name. Expected a '"'."</summary>
    public static string At(JsonException e) => Where(e) is { Length: > 0 } where ? $"{where}: {Reason(e)}" : Reason(e);

    /// <summary>"at line 1, byte 9", or "" when the reader gave no position.</summary>
    public static string Where(JsonException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.LineNumber is long line && e.BytePositionInLine is long b ? $"at line {line + 1}, byte {b + 1}" : "";
    }

    [GeneratedRegex(@"^The JSON (?<what>array|object) contains a trailing comma at the end which is not supported in this mode\. Change the reader options\.(?<path> \(at \S+\))?$")]
    private static partial Regex TrailingComma();

    /// <summary>
    /// The reader's reason alone, for a caller that says where itself, on one short line: a literal it quotes may hold
    /// the file's line breaks and control characters (shown escaped) and, in a binary file, run to its end (cut after
    /// <see cref="MaxQuoted"/> characters), and its texts for programmers ("when isFinalBlock is true", "change the reader
    /// options") are said for the person who wrote the file. Files read with comments skipped may hold only comments.
    /// </summary>
    public static string Reason(JsonException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        string reason = ReaderCoordinates().Replace(e.Message, m => m.Groups["path"].Success && m.Groups["path"].Value != "$" ? $" (at {m.Groups["path"].Value})" : "");
        if (reason.StartsWith("The input does not contain any JSON tokens.", StringComparison.Ordinal))
        {
            return "there is no JSON value (the text is empty, or only whitespace or comments)";
        }
        if (TrailingComma().Match(reason) is { Success: true } comma)
        {
            return $"the JSON {comma.Groups["what"].Value} ends with a comma, which JSON does not allow{comma.Groups["path"].Value}";
        }
        if (Conversion().Match(reason) is { Success: true } conversion)
        {
            // The serializer names the .NET type it wanted, or for a constructor's parameter the type that holds it;
            // the person who wrote the file reads JSON's kinds.
            return JsonKind(conversion.Groups["type"].Value) is string kind
                ? $"expected {kind} here{conversion.Groups["path"].Value}"
                : $"the value here has the wrong type{conversion.Groups["path"].Value}";
        }
        if (InvalidLiteral().Match(reason) is { Success: true } literal && literal.Groups["text"].Length > MaxQuoted)
        {
            // The reader quotes an unknown word up to the next delimiter: in a binary file, the rest of the file.
            string text = literal.Groups["text"].Value;
            int cut = char.IsHighSurrogate(text[MaxQuoted - 1]) ? MaxQuoted - 1 : MaxQuoted;
            reason = $"'{text[..cut]}…'{reason[(literal.Groups["text"].Index + text.Length + 1)..]}";
        }
        return Printable(reason);
    }

    [GeneratedRegex(@"^The JSON value could not be converted to (?<type>.+?)\.(?<path> \(at \S+\))?$", RegexOptions.Singleline)]
    private static partial Regex Conversion();

    /// <summary>
    /// The JSON kind a value read as .NET type <paramref name="type"/> must have, e.g. "a list" for IReadOnlyList`1[…];
    /// null for a type of the program's own, which may be the one holding the value rather than the value's.
    /// </summary>
    private static string? JsonKind(string type)
    {
        if (type.StartsWith("System.Nullable`1[", StringComparison.Ordinal) && type.EndsWith(']'))
        {
            return JsonKind(type["System.Nullable`1[".Length..^1]) is string inner ? inner + " or null" : null;
        }
        return type switch
        {
            "System.String" or "System.Char" or "System.Guid" or "System.DateTime" or "System.DateTimeOffset" => "a string",
            "System.Boolean" => "true or false",
            "System.Byte" or "System.SByte" or "System.Int16" or "System.UInt16" or "System.Int32" or "System.UInt32" or "System.Int64" or "System.UInt64" => "an integer",
            "System.Single" or "System.Double" or "System.Decimal" => "a number",
            _ when type.EndsWith("[]", StringComparison.Ordinal) || type.Contains("List`", StringComparison.Ordinal)
                || type.Contains("Enumerable`", StringComparison.Ordinal) || type.Contains("Collection`", StringComparison.Ordinal)
                || type.Contains("Set`", StringComparison.Ordinal) => "a list",
            _ when type.Contains("Dictionary`", StringComparison.Ordinal) => "an object",
            _ => null,
        };
    }

    /// <summary>The most characters of the file's text that an error quotes.</summary>
    private const int MaxQuoted = 40;

    [GeneratedRegex(@"^'(?<text>.*)' is an invalid JSON literal\.", RegexOptions.Singleline)]
    private static partial Regex InvalidLiteral();

    /// <summary>Quoted from the file, the reason is printed on the error's one line (<see cref="OneLine"/>).</summary>
    private static string Printable(string reason) => OneLine.Of(reason);
}
