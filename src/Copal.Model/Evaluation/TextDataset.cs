namespace Copal.Model.Evaluation;

/// <summary>How a text file becomes the one string that is tokenized.</summary>
public enum TextLayout
{
    /// <summary>The file as it is (WikiText-2's test.joined.txt is already "\n\n".join(rows)).</summary>
    Raw,
    /// <summary>One sentence per line, each stripped, joined with a single space (PTB, as pruning papers evaluate it).</summary>
    JoinedLines,
    /// <summary>
    /// Documents separated by <c>&lt;|endoftext|&gt;</c> (on lines of their own in the TinyStories files; the text is
    /// split wherever the marker stands, with the newlines around it trimmed): each document is
    /// tokenized on its own with BOS, as llama2.c's training and validation data are, and the ids are concatenated.
    /// </summary>
    Documents,
}

/// <summary>Reads evaluation and calibration text with strict UTF-8 and clear errors, its line ends as the references read them (<see cref="Tokenization.LineEnds"/>).</summary>
internal static class TextDataset
{
    /// <summary>
    /// The text of the file <paramref name="path"/>, laid out as <paramref name="layout"/> says (<see cref="TextLayout.Documents"/>
    /// keeps the separators for <see cref="TokenizeText(Tokenization.CopalTokenizer, string, TextLayout)"/>).
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="IOException"><paramref name="path"/> is a folder, or holds more than <see cref="TextBytes.MaxBytes"/> bytes.</exception>
    /// <exception cref="Tokenization.TokenizerException">The file is not valid UTF-8; the message gives the byte offset.</exception>
    /// <exception cref="InvalidDataException">The file is empty or only white space.</exception>
    public static string Load(string path, TextLayout layout = TextLayout.Raw)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (Directory.Exists(path))
        {
            throw new IOException($"data file '{path}' is a folder; expected a text file");
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"data file '{path}' does not exist", path);
        }
        byte[] bytes = TextBytes.ReadFile(path);
        return DecodeOrThrow(bytes, path, layout, $"text file '{path}' has no text ({NoText(bytes)})");
    }

    /// <summary>
    /// Text already read (from standard input, say) decoded and laid out as <see cref="Load"/> does a file's;
    /// <paramref name="source"/> names it in messages.
    /// </summary>
    public static string Decode(byte[] bytes, string source, TextLayout layout = TextLayout.Raw)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        return DecodeOrThrow(bytes, source, layout, $"{source} has no text ({NoText(bytes)})");
    }

    private static string NoText(byte[] bytes) => bytes.Length == 0 ? "0 bytes" : $"{bytes.Length} bytes of white space";

    private static string DecodeOrThrow(byte[] bytes, string source, TextLayout layout, string emptyMessage)
    {
        // Windows line ends read as "\n", as the references read the file (LineEnds).
        string text = Tokenization.LineEnds.AsNewlines(Tokenization.Utf8Text.DecodeStrict(bytes, source));
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new InvalidDataException(emptyMessage);
        }
        return layout switch
        {
            TextLayout.Raw or TextLayout.Documents => text,
            TextLayout.JoinedLines => string.Join(' ', text.Split('\n').Select(l => l.Trim(s_pythonWhiteSpace)).Where(l => l.Length > 0)),
            _ => throw new ArgumentOutOfRangeException(nameof(layout), layout, null),
        };
    }

    /// <summary>
    /// What Python's <c>str.strip()</c> takes off (<c>str.isspace</c>), as the references strip each line of the
    /// joined-lines layout: .NET's white space and the information separators U+001C to U+001F, which .NET's is not.
    /// </summary>
    private static readonly char[] s_pythonWhiteSpace =
    [
        '\t', '\n', '\v', '\f', '\r', '\u001c', '\u001d', '\u001e', '\u001f', ' ', '\u0085', '\u00a0', '\u1680',
        '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200a',
        '\u2028', '\u2029', '\u202f', '\u205f', '\u3000',
    ];

    /// <summary>The separator line between documents in the <see cref="TextLayout.Documents"/> layout.</summary>
    public const string DocumentSeparator = "<|endoftext|>";

    /// <summary>
    /// Tokenizes a whole file the way <paramref name="layout"/> says: once as one string, or (Documents) each
    /// document on its own with the tokenizer's special tokens (BOS), concatenated.
    /// </summary>
    public static int[] Tokenize(Tokenization.CopalTokenizer tokenizer, string path, TextLayout layout) =>
        Tokenize(tokenizer, path, layout, null, CancellationToken.None);

    /// <summary>
    /// As <see cref="Tokenize(Tokenization.CopalTokenizer, string, TextLayout)"/>, cancellable within a word and with
    /// progress in the laid-out text's characters (see <see cref="Tokenization.CopalTokenizer.Encode(string, bool, IProgress{Tokenization.TokenizeProgress}?, CancellationToken)"/>).
    /// </summary>
    public static int[] Tokenize(Tokenization.CopalTokenizer tokenizer, string path, TextLayout layout,
        IProgress<Tokenization.TokenizeProgress>? progress, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        string text = Load(path, layout);
        return TokenizeText(tokenizer, text, layout, progress, cancellationToken);
    }

    /// <summary>Tokenizes text that <see cref="Load"/> or <see cref="Decode"/> laid out, as <see cref="Tokenize(Tokenization.CopalTokenizer, string, TextLayout)"/> does.</summary>
    public static int[] TokenizeText(Tokenization.CopalTokenizer tokenizer, string text, TextLayout layout) =>
        TokenizeText(tokenizer, text, layout, null, CancellationToken.None);

    /// <summary>As <see cref="TokenizeText(Tokenization.CopalTokenizer, string, TextLayout)"/>, cancellable and with progress.</summary>
    public static int[] TokenizeText(Tokenization.CopalTokenizer tokenizer, string text, TextLayout layout,
        IProgress<Tokenization.TokenizeProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(text);
        if (layout != TextLayout.Documents)
        {
            return tokenizer.Encode(text, addSpecialTokens: true, progress, cancellationToken);
        }
        // One watch over the whole file: progress counts the file's characters, not each document's.
        var watch = new Tokenization.EncodeWatch(progress, text.Length, cancellationToken);
        // One list for all the documents' ids, and one copy of each document's text: a split of the text, its trimmed
        // copies, each document's own list and array, and a list grown by their concatenation came to twice what
        // the same text allocated in the Raw layout.
        var ids = new List<int>(text.Length / 3 + 4);
        for (int start = 0; start <= text.Length;)
        {
            int separator = text.IndexOf(DocumentSeparator, start, StringComparison.Ordinal);
            int end = separator < 0 ? text.Length : separator;
            int first = start, last = end;
            while (first < last && text[first] == '\n')
            {
                first++;
            }
            while (last > first && text[last - 1] == '\n')
            {
                last--;
            }
            if (last > first)
            {
                watch.Origin = first;
                tokenizer.EncodeInto(text.Substring(first, last - first), addSpecialTokens: true, ids, watch);
            }
            if (separator < 0)
            {
                break;
            }
            start = separator + DocumentSeparator.Length;
        }
        watch.Done();
        return ids.ToArray();
    }
}
