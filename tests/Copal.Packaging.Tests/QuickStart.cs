namespace Copal.Packaging.Tests;

/// <summary>The quick-start program of README.md: the C# block right after the <c>&lt;!-- quick-start</c> marker.</summary>
internal static class QuickStart
{
    public const string Marker = "<!-- quick-start";

    /// <summary>The code of the block (without its fences), with \n line ends.</summary>
    public static string Extract(string readmePath)
    {
        string[] lines = File.ReadAllText(readmePath).ReplaceLineEndings("\n").Split('\n');
        int marker = Array.FindIndex(lines, l => l.StartsWith(Marker, StringComparison.Ordinal));
        if (marker < 0 || marker + 1 >= lines.Length || lines[marker + 1] != "```csharp")
        {
            throw new InvalidDataException($"{readmePath}: expected a line starting with '{Marker}' followed by a ```csharp block");
        }
        int end = Array.IndexOf(lines, "```", marker + 2);
        if (end < 0)
        {
            throw new InvalidDataException($"{readmePath}: the quick-start block after line {marker + 2} has no closing ```");
        }
        return string.Concat(lines[(marker + 2)..end].Select(l => l + "\n"));
    }
}
