using Copal.Model.Evaluation;
using Copal.Tensors.IO;

namespace Copal.Prune.Continual.Protocol;

/// <summary>Which part of a file a split uses.</summary>
public enum FilePart
{
    /// <summary>The whole file.</summary>
    Whole,
    /// <summary>The text up to the first line break at or after the middle (calibration of a NAME=FILE dataset).</summary>
    FirstHalf,
    /// <summary>The rest (evaluation of a NAME=FILE dataset).</summary>
    SecondHalf,
}

/// <summary>One split of a dataset: a file, the part of it used and how its lines become text.</summary>
/// <param name="Path">The text file, as given (respelled where a ".." follows a link: <see cref="RealPath.AsTheKernelReadsIt"/>).</param>
/// <param name="Part">The whole file or one of its halves.</param>
/// <param name="Layout">How the text is laid out before tokenizing: <see cref="TextLayout.Raw"/> or <see cref="TextLayout.JoinedLines"/> (@lines).</param>
public sealed record DataSplit(string Path, FilePart Part, TextLayout Layout)
{
    /// <summary>The text to tokenize. Halves are cut on the raw file at a line boundary, then the layout applies.</summary>
    public string LoadText()
    {
        string raw = TextDataset.Load(Path, TextLayout.Raw);
        if (Part != FilePart.Whole)
        {
            int cut = HalfCut(raw);
            string half = Part == FilePart.FirstHalf ? raw[..cut] : raw[cut..];
            if (string.IsNullOrWhiteSpace(half))
            {
                throw new InvalidDataException($"data file '{Path}' has no text in its {(Part == FilePart.FirstHalf ? "first" : "second")} half (cut at character {cut} of {raw.Length})");
            }
            raw = half;
        }
        return Layout == TextLayout.JoinedLines
            ? string.Join(' ', raw.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0))
            : raw;
    }

    /// <summary>
    /// Where the halves meet: after the first line break at or past the middle (the middle itself where none follows
    /// it, moved past a surrogate pair it would split); where that leaves the second half blank (the file's last breaks), after the last break before the middle,
    /// so "a\nb\n" is "a\n" and "b\n".
    /// </summary>
    private static int HalfCut(string raw)
    {
        int mid = raw.Length / 2;
        int after = raw.IndexOf('\n', mid);
        if (after < 0)
        {
            // The middle of a surrogate pair would leave half a character at the end of one half and the start of the other.
            return mid > 0 && char.IsHighSurrogate(raw[mid - 1]) && char.IsLowSurrogate(raw[mid]) ? mid + 1 : mid;
        }
        if (!string.IsNullOrWhiteSpace(raw[(after + 1)..]))
        {
            return after + 1;
        }
        int before = mid > 0 ? raw.LastIndexOf('\n', mid - 1) : -1;
        return before >= 0 ? before + 1 : after + 1;
    }

    /// <summary>The file's name with the part and layout, e.g. "ptb.valid.txt (first half) @lines", for reports.</summary>
    public override string ToString() => System.IO.Path.GetFileName(Path) + PartSuffix + (Layout == TextLayout.JoinedLines ? " @lines" : "");

    /// <summary>How messages name the split: the file as given, quoted, and the half it uses, e.g. "'wiki.txt' (first half)".</summary>
    public string Quoted => $"'{Path}'{PartSuffix}";

    private string PartSuffix => Part switch
    {
        FilePart.FirstHalf => " (first half)",
        FilePart.SecondHalf => " (second half)",
        _ => "",
    };
}

/// <summary>A dataset of the continual protocol: a name, its calibration split and its evaluation split.</summary>
/// <param name="Name">The dataset's name in reports; <see cref="Parse"/> refuses white space, ',' and ':' in it, <see cref="ParseList"/> a name given twice.</param>
/// <param name="Calibration">The split the calibration windows are drawn from.</param>
/// <param name="Evaluation">The split perplexity is measured on.</param>
public sealed record ContinualDataset(string Name, DataSplit Calibration, DataSplit Evaluation)
{
    /// <summary>The grammar, for --help and errors.</summary>
    public const string Grammar =
        "NAME=CALIB_FILE:EVAL_FILE (calibrate on one file, evaluate on the other) or NAME=FILE (calibrate on the first half, " +
        "evaluate on the second half, cut at a line boundary); append @lines for one-sentence-per-line text joined with spaces " +
        "(PTB), e.g. ptb=ptb.valid.txt:ptb.test.txt@lines; several datasets separated by commas, in the order they arrive";

    /// <summary>Parses one dataset spec (see <see cref="Grammar"/>).</summary>
    /// <exception cref="PruningOptionException">The spec does not follow the grammar.</exception>
    public static ContinualDataset Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        string s = spec.Trim();
        int eq = s.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0 || eq == s.Length - 1)
        {
            throw new PruningOptionException("datasets", spec, Grammar);
        }
        string name = s[..eq].Trim();
        string rest = s[(eq + 1)..].Trim();
        TextLayout layout = TextLayout.Raw;
        int at = rest.LastIndexOf('@');
        if (at >= 0)
        {
            string suffix = rest[(at + 1)..].Trim().ToLowerInvariant();
            layout = suffix switch
            {
                "lines" => TextLayout.JoinedLines,
                "raw" => TextLayout.Raw,
                _ => throw new PruningOptionException("datasets", spec, $"@lines or @raw after the files, got '@{suffix}'; {Grammar}"),
            };
            rest = rest[..at].Trim();
        }
        string[] files = rest.Split(':', StringSplitOptions.TrimEntries);
        // A ".." after a link means what it means to the shell, as for every path option.
        files = [.. files.Select(RealPath.AsTheKernelReadsIt)];
        if (files.Length > 2 || files.Any(f => f.Length == 0) || name.Any(c => char.IsWhiteSpace(c) || c == ',' || c == ':'))
        {
            throw new PruningOptionException("datasets", spec, Grammar);
        }
        return files.Length == 1
            ? new ContinualDataset(name, new DataSplit(files[0], FilePart.FirstHalf, layout), new DataSplit(files[0], FilePart.SecondHalf, layout))
            : new ContinualDataset(name, new DataSplit(files[0], FilePart.Whole, layout), new DataSplit(files[1], FilePart.Whole, layout));
    }

    /// <summary>Parses a comma-separated list of specs, none of them empty; names must be unique.</summary>
    public static IReadOnlyList<ContinualDataset> ParseList(string specs)
    {
        ArgumentNullException.ThrowIfNull(specs);
        string[] entries = specs.Split(',', StringSplitOptions.TrimEntries);
        // An empty entry ("a=x.txt," or "a=x.txt,,b=y.txt") names no dataset: a slip, refused rather than skipped.
        if (entries.Any(e => e.Length == 0))
        {
            throw new PruningOptionException("datasets", specs, $"{Grammar}, none of them empty");
        }
        var list = entries.Select(Parse).ToList();
        string? duplicate = list.GroupBy(d => d.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1)?.Key;
        if (duplicate is not null)
        {
            throw new PruningOptionException("datasets", specs, $"distinct names, but '{duplicate}' appears twice");
        }
        return list;
    }
}
