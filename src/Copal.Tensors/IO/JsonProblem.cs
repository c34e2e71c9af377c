using System.Text.Json;
using System.Text.RegularExpressions;

namespace Copal.Tensors.IO;

/// <summary>
/// A JSON file's error as one line a person reads: where (line and byte, counted from 1 as editors count) and why.
/// System.Text.Json's message ends with its own coordinates, counted from 0 (" LineNumber: 0 | BytePositionInLine:
/// 8."), which would contradict the ones given here; they are cut, and a property path it names is kept.
/// </summary>
public static partial class JsonProblem
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
    /// The reader's reason alone, for a caller that says where itself, on one line: a literal it quotes may hold the
    /// file's line breaks (shown as \n), and its texts for programmers ("when isFinalBlock is true", "change the reader
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
        return reason.Replace("\r\n", "\\n", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal);
    }
}
