using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Normalizers;

/// <summary>Replaces every occurrence of a literal string or a regex (Llama: " " → "▁").</summary>
internal sealed class ReplaceNormalizer : Normalizer
{
    private readonly string? _literal;
    private readonly CodePointRegex? _regex;
    private readonly string _content;

    /// <summary>
    /// Whether a replacement can make the text's UTF-8 shorter: a regex (it may match any length), or a literal whose
    /// replacement has fewer bytes ("\u200b" → "" deletes text).
    /// </summary>
    public bool MayShorten => _regex is not null
        || System.Text.Encoding.UTF8.GetByteCount(_content) < System.Text.Encoding.UTF8.GetByteCount(_literal!);

    /// <summary>
    /// Whether the replacement swaps one char for another (Llama's " " → "▁"): no match can span two pieces of text,
    /// so a piece can be replaced as it is copied (<see cref="SequenceNormalizer"/>).
    /// </summary>
    public bool IsCharForChar => _literal is { Length: 1 } && _content.Length == 1;

    /// <summary>Copies <paramref name="source"/> into <paramref name="destination"/> with the char replaced; only where <see cref="IsCharForChar"/>.</summary>
    public void CopyReplacingChar(ReadOnlySpan<char> source, Span<char> destination) =>
        source.Replace(destination, _literal![0], _content[0]);

    public ReplaceNormalizer(string? literal, CodePointRegex? regex, string content)
    {
        _literal = literal;
        _regex = regex;
        _content = content;
    }

    public override string Normalize(string original) =>
        _literal is not null
            ? (_literal.Length == 0 ? original : original.Replace(_literal, _content, StringComparison.Ordinal))
            : _regex!.Replace(original, _content);

    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
}
