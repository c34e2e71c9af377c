namespace Copal.Packaging.Tests;

/// <summary>
/// The programs the docs show: the C# block right after a marker line, README.md's <c>&lt;!-- quick-start</c> and
/// docs/serving.md's <c>&lt;!-- library-example</c>.
/// </summary>
internal static class QuickStart
{
    public const string Marker = "<!-- quick-start";

    /// <summary>docs/serving.md's program of the library's serving entry points.</summary>
    public const string ServingMarker = "<!-- library-example";

    /// <summary>The code of the block (without its fences) after <paramref name="marker"/>, with \n line ends.</summary>
    public static string Extract(string readmePath, string marker = Marker)
    {
        string[] lines = File.ReadAllText(readmePath).ReplaceLineEndings("\n").Split('\n');
        int at = Array.FindIndex(lines, l => l.StartsWith(marker, StringComparison.Ordinal));
        if (at < 0 || at + 1 >= lines.Length || lines[at + 1] != "```csharp")
        {
            throw new InvalidDataException($"{readmePath}: expected a line starting with '{marker}' followed by a ```csharp block");
        }
        int end = Array.IndexOf(lines, "```", at + 2);
        if (end < 0)
        {
            throw new InvalidDataException($"{readmePath}: the block after line {at + 2} has no closing ```");
        }
        return string.Concat(lines[(at + 2)..end].Select(l => l + "\n"));
    }
}
