namespace Copal.Model.Evaluation;

/// <summary>How a text file becomes the one string that is tokenized.</summary>
public enum TextLayout
{
    /// <summary>The file as it is (WikiText-2's test.joined.txt is already "\n\n".join(rows)).</summary>
    Raw,
    /// <summary>One sentence per line, each stripped, joined with a single space (PTB, as pruning papers evaluate it).</summary>
    JoinedLines,
}

/// <summary>Reads evaluation and calibration text with strict UTF-8 and clear errors.</summary>
public static class TextDataset
{
    public static string Load(string path, TextLayout layout = TextLayout.Raw)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"data file '{path}' does not exist", path);
        }
        byte[] bytes = File.ReadAllBytes(path);
        string text = Tokenization.Utf8Text.DecodeStrict(bytes, path);
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new InvalidDataException($"data file '{path}' is empty ({bytes.Length} bytes, no text)");
        }
        return layout switch
        {
            TextLayout.Raw => text,
            TextLayout.JoinedLines => string.Join(' ', text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0)),
            _ => throw new ArgumentOutOfRangeException(nameof(layout), layout, null),
        };
    }
}
