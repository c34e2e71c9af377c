namespace Copal.Model.Tokenization;

/// <summary>
/// Line ends of text files read as the references read them. Python's text mode (the <c>open(path, encoding="utf-8")</c>
/// of tools/reference and most evaluation scripts, and of transformers for chat_template.jinja) turns "\r\n" and a
/// lone "\r" into "\n". A file saved on Windows, or checked out by Git for Windows (core.autocrlf), ends its lines
/// with "\r\n": tokenized as bytes, every "\r" became a token of its own (TinyStories' perplexity nearly doubled
/// against the reference's on the same file), and a template's "\r" went into every prompt.
/// </summary>
internal static class LineEnds
{
    /// <summary><paramref name="text"/> with "\r\n" and lone "\r" as "\n"; the same string where it holds no "\r".</summary>
    public static string AsNewlines(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Contains('\r', StringComparison.Ordinal) ? text.Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n') : text;
    }
}
