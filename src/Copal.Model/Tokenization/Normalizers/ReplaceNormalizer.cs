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
