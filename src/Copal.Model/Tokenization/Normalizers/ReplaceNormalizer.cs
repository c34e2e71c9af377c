namespace Copal.Model.Tokenization.Normalizers;

/// <summary>Replaces every occurrence of a literal string or a regex (Llama: " " → "▁").</summary>
internal sealed class ReplaceNormalizer : INormalizer
{
    private readonly string? _literal;
    private readonly CodePointRegex? _regex;
    private readonly string _content;

    public ReplaceNormalizer(string? literal, CodePointRegex? regex, string content)
    {
        _literal = literal;
        _regex = regex;
        _content = content;
    }

    public string Normalize(string text) =>
        _literal is not null
            ? (_literal.Length == 0 ? text : text.Replace(_literal, _content, StringComparison.Ordinal))
            : _regex!.Replace(text, _content);
}
