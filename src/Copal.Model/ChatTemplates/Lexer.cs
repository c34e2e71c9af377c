using System.Globalization;
using System.Text;

namespace Copal.Model.ChatTemplates;

internal enum TokenKind
{
    Text,
    NumericLiteral,
    StringLiteral,
    Identifier,
    Equals,
    OpenParen,
    CloseParen,
    OpenStatement,
    CloseStatement,
    OpenExpression,
    CloseExpression,
    OpenSquareBracket,
    CloseSquareBracket,
    OpenCurlyBracket,
    CloseCurlyBracket,
    Comma,
    Dot,
    Colon,
    Pipe,
    AdditiveBinaryOperator,
    MultiplicativeBinaryOperator,
    ExponentiationBinaryOperator,
    ComparisonBinaryOperator,
    UnaryOperator,
    Comment,
}

// Position: Index of the token's first character in TemplateSource.Text.
internal sealed record Token(TokenKind Kind, string Value, int Position)
{
    public string Value { get; set; } = Value;
}

/// <summary>
/// Splits template text into tokens with the rules of @huggingface/jinja's lexer: text runs between tags,
/// <c>{%-</c>/<c>{{-</c>/<c>{#-</c> strip the whitespace before them and <c>-%}</c>/<c>-}}</c>/<c>-#}</c> the
/// whitespace after them, inside a tag whitespace separates tokens, a <c>-</c> or <c>+</c> after an operator or an
/// opening bracket is a sign (glued to a number that follows), string literals take the escapes
/// \n \t \r \b \f \v \' \" \\ \xHH \uHHHH.
/// </summary>
internal static class Lexer
{
    private static readonly (string Seq, TokenKind Kind)[] s_table =
    [
        ("{%", TokenKind.OpenStatement), ("%}", TokenKind.CloseStatement),
        ("{{", TokenKind.OpenExpression), ("}}", TokenKind.CloseExpression),
        ("(", TokenKind.OpenParen), (")", TokenKind.CloseParen),
        ("{", TokenKind.OpenCurlyBracket), ("}", TokenKind.CloseCurlyBracket),
        ("[", TokenKind.OpenSquareBracket), ("]", TokenKind.CloseSquareBracket),
        (",", TokenKind.Comma), (".", TokenKind.Dot), (":", TokenKind.Colon), ("|", TokenKind.Pipe),
        ("<=", TokenKind.ComparisonBinaryOperator), (">=", TokenKind.ComparisonBinaryOperator),
        ("==", TokenKind.ComparisonBinaryOperator), ("!=", TokenKind.ComparisonBinaryOperator),
        ("<", TokenKind.ComparisonBinaryOperator), (">", TokenKind.ComparisonBinaryOperator),
        ("+", TokenKind.AdditiveBinaryOperator), ("-", TokenKind.AdditiveBinaryOperator), ("~", TokenKind.AdditiveBinaryOperator),
        ("**", TokenKind.ExponentiationBinaryOperator),
        ("*", TokenKind.MultiplicativeBinaryOperator), ("//", TokenKind.MultiplicativeBinaryOperator),
        ("/", TokenKind.MultiplicativeBinaryOperator), ("%", TokenKind.MultiplicativeBinaryOperator),
        ("=", TokenKind.Equals),
    ];

    public static List<Token> Tokenize(TemplateSource source)
    {
        string src = source.Text;
        var tokens = new List<Token>();
        int pos = 0;
        int curlyDepth = 0;

        ChatTemplateException Error(int at, string what) => new($"chat template {source.Where(at)}: {what}");

        TokenKind? LastKind() => tokens.Count == 0 ? null : tokens[^1].Kind;

        // The template ends inside a tag: the error names the tag's opening, not the name or number it ends in.
        ChatTemplateException Unclosed()
        {
            Token open = tokens.Last(t => t.Kind is TokenKind.OpenStatement or TokenKind.OpenExpression);
            return Error(open.Position, $"'{open.Value}' is never closed with {(open.Kind == TokenKind.OpenStatement ? "%}" : "}}")} (the template ends inside it)");
        }

        void StripTrailingWhitespace()
        {
            if (tokens.Count > 0 && tokens[^1].Kind == TokenKind.Text)
            {
                tokens[^1].Value = JsText.TrimEnd(tokens[^1].Value);
                if (tokens[^1].Value.Length == 0)
                {
                    tokens.RemoveAt(tokens.Count - 1);
                }
            }
        }

        void SkipLeadingWhitespace()
        {
            while (pos < src.Length && JsText.IsWhitespace(src[pos]))
            {
                pos++;
            }
        }

        bool At(string s) => string.CompareOrdinal(src, pos, s, 0, s.Length) == 0 && pos + s.Length <= src.Length;

        // Jinja2's float exponent (1e3, 2.5E-3): e or E, an optional sign and digits; nothing where no digit follows
        // (1e is a number and a name, as in Jinja2).
        string Exponent(int start)
        {
            int at = pos < src.Length && src[pos] is 'e' or 'E' ? pos + 1 : -1;
            at += at > 0 && at < src.Length && src[at] is '+' or '-' ? 1 : 0;
            if (at < 0 || at >= src.Length || !char.IsAsciiDigit(src[at]))
            {
                return "";
            }
            string mark = src[pos..at];
            pos = at;
            return mark + ConsumeWhile(char.IsAsciiDigit, start, "number");
        }

        string ConsumeWhile(Func<char, bool> predicate, int start, string what)
        {
            var sb = new StringBuilder();
            while (pos < src.Length && predicate(src[pos]))
            {
                if (src[pos] == '\\')
                {
                    int escapeAt = pos;
                    pos++;
                    if (pos >= src.Length)
                    {
                        throw Error(escapeAt, $"unterminated {what}");
                    }
                    char escaped = src[pos++];
                    if (escaped is 'x' or 'u')
                    {
                        int length = escaped == 'x' ? 2 : 4;
                        string hex = pos + length <= src.Length ? src.Substring(pos, length) : src[pos..];
                        if (hex.Length != length || !hex.All(char.IsAsciiHexDigit))
                        {
                            throw Error(escapeAt, $"invalid escape \\{escaped}{hex} in a string literal");
                        }
                        sb.Append((char)int.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        pos += length;
                        continue;
                    }
                    char? unescaped = escaped switch
                    {
                        'n' => '\n', 't' => '\t', 'r' => '\r', 'b' => '\b', 'f' => '\f', 'v' => '\v',
                        '\'' => '\'', '"' => '"', '\\' => '\\', _ => null,
                    };
                    if (unescaped is null)
                    {
                        throw Error(escapeAt, $"unsupported escape \\{escaped} in a string literal");
                    }
                    sb.Append(unescaped.Value);
                    continue;
                }
                sb.Append(src[pos++]);
                if (pos >= src.Length)
                {
                    // Names and numbers stand only inside tags: ending in one leaves its tag open.
                    throw what == "string literal" ? Error(start, $"unterminated {what} (the template ends inside it)") : Unclosed();
                }
            }
            return sb.ToString();
        }

        while (pos < src.Length)
        {
            TokenKind? last = LastKind();
            if (last is null or TokenKind.CloseStatement or TokenKind.CloseExpression or TokenKind.Comment)
            {
                int start = pos;
                while (pos < src.Length && !(src[pos] == '{' && pos + 1 < src.Length && src[pos + 1] is '%' or '{' or '#'))
                {
                    pos++;
                }
                if (pos > start)
                {
                    tokens.Add(new Token(TokenKind.Text, src[start..pos], start));
                    continue;
                }
            }

            if (At("{#"))
            {
                int start = pos;
                pos += 2;
                bool stripBefore = pos < src.Length && src[pos] == '-';
                if (stripBefore)
                {
                    pos++;
                }
                var comment = new StringBuilder();
                while (pos + 1 >= src.Length || src[pos] != '#' || src[pos + 1] != '}')
                {
                    if (pos + 2 >= src.Length)
                    {
                        throw Error(start, "comment {# is never closed with #}");
                    }
                    comment.Append(src[pos++]);
                }
                bool stripAfter = comment.Length > 0 && comment[^1] == '-';
                if (stripAfter)
                {
                    comment.Length--;
                }
                if (stripBefore)
                {
                    StripTrailingWhitespace();
                }
                tokens.Add(new Token(TokenKind.Comment, comment.ToString(), start));
                pos += 2;
                if (stripAfter)
                {
                    SkipLeadingWhitespace();
                }
                continue;
            }

            if (At("{%-"))
            {
                StripTrailingWhitespace();
                tokens.Add(new Token(TokenKind.OpenStatement, "{%", pos));
                pos += 3;
                continue;
            }
            if (At("{{-"))
            {
                StripTrailingWhitespace();
                tokens.Add(new Token(TokenKind.OpenExpression, "{{", pos));
                curlyDepth = 0;
                pos += 3;
                continue;
            }

            SkipLeadingWhitespace();
            if (pos >= src.Length)
            {
                break;
            }

            if (At("-%}"))
            {
                tokens.Add(new Token(TokenKind.CloseStatement, "%}", pos));
                pos += 3;
                SkipLeadingWhitespace();
                continue;
            }
            if (At("-}}"))
            {
                tokens.Add(new Token(TokenKind.CloseExpression, "}}", pos));
                pos += 3;
                SkipLeadingWhitespace();
                continue;
            }

            char c = src[pos];
            if (c is '-' or '+')
            {
                TokenKind? lastKind = LastKind();
                if (lastKind is null or TokenKind.Text)
                {
                    throw Error(pos, $"unexpected character '{c}'");
                }
                if (lastKind is not (TokenKind.Identifier or TokenKind.NumericLiteral or TokenKind.StringLiteral
                    or TokenKind.CloseParen or TokenKind.CloseSquareBracket))
                {
                    int start = pos;
                    pos++;
                    string num = ConsumeWhile(char.IsAsciiDigit, start, "number");
                    if (num.Length > 0 && pos + 1 < src.Length && src[pos] == '.' && char.IsAsciiDigit(src[pos + 1]))
                    {
                        pos++;
                        num = $"{num}.{ConsumeWhile(char.IsAsciiDigit, start, "number")}";
                    }
                    num += num.Length > 0 ? Exponent(start) : "";
                    tokens.Add(new Token(num.Length > 0 ? TokenKind.NumericLiteral : TokenKind.UnaryOperator, c + num, start));
                    continue;
                }
            }

            bool matched = false;
            foreach ((string seq, TokenKind kind) in s_table)
            {
                if (seq == "}}" && curlyDepth > 0)
                {
                    continue;
                }
                if (At(seq))
                {
                    tokens.Add(new Token(kind, seq, pos));
                    if (kind == TokenKind.OpenExpression)
                    {
                        curlyDepth = 0;
                    }
                    else if (kind == TokenKind.OpenCurlyBracket)
                    {
                        curlyDepth++;
                    }
                    else if (kind == TokenKind.CloseCurlyBracket)
                    {
                        curlyDepth--;
                    }
                    pos += seq.Length;
                    matched = true;
                    break;
                }
            }
            if (matched)
            {
                continue;
            }

            if (c is '\'' or '"')
            {
                int start = pos;
                pos++;
                if (pos >= src.Length)
                {
                    throw Error(start, "unterminated string literal");
                }
                string str = ConsumeWhile(ch => ch != c, start, "string literal");
                tokens.Add(new Token(TokenKind.StringLiteral, str, start));
                pos++;
                continue;
            }
            if (char.IsAsciiDigit(c))
            {
                int start = pos;
                string num = ConsumeWhile(char.IsAsciiDigit, start, "number");
                if (LastKind() != TokenKind.Dot && pos + 1 < src.Length && src[pos] == '.' && char.IsAsciiDigit(src[pos + 1]))
                {
                    pos++;
                    num = $"{num}.{ConsumeWhile(char.IsAsciiDigit, start, "number")}";
                }
                num += LastKind() != TokenKind.Dot ? Exponent(start) : "";
                tokens.Add(new Token(TokenKind.NumericLiteral, num, start));
                continue;
            }
            if (IsWord(c))
            {
                int start = pos;
                string word = ConsumeWhile(IsWord, start, "name");
                tokens.Add(new Token(TokenKind.Identifier, word, start));
                continue;
            }
            throw Error(pos, $"unexpected character '{c}'");
        }
        if (LastKind() is not (null or TokenKind.Text or TokenKind.CloseStatement or TokenKind.CloseExpression or TokenKind.Comment))
        {
            throw Unclosed();
        }
        return tokens;
    }

    private static bool IsWord(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
}
