using System.Globalization;

namespace Copal.Model.Generation.Constraints.Schema.Patterns;

/// <summary>
/// Parses JSON Schema's <c>pattern</c>, an ECMAScript regular expression (no flags), into <see cref="PatternNode"/>s:
/// characters, classes and their escapes, groups, alternation, quantifiers (lazy ones match the same strings), the
/// anchors and lookaheads. What engines read differently is refused rather than guessed: a <c>{</c> that is no
/// quantifier, an unescaped <c>[</c> in a class (.NET's subtraction), an empty class, octal escapes. So are the
/// constructs no finite automaton holds or copal does not take: backreferences, lookbehinds, word boundaries.
/// </summary>
internal sealed class PatternParser
{
    /// <summary>The largest count a quantifier may give (<c>{n,m}</c>).</summary>
    public const int MaxRepeat = 1000;

    /// <summary>
    /// The deepest groups (and lookaheads) may nest: the parser, the automaton's construction and the walks over the
    /// parsed pattern recurse into each group, and a pattern is a request's to give (a stack overflow ends the process).
    /// </summary>
    public const int MaxDepth = 100;

    // ECMAScript's group names that .NET takes too ($ is ECMAScript's alone).
    private const string GroupNameCharacters = "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    private readonly string _text;
    private int _at;
    private int _depth;
    // ECMAScript refuses a group name given twice (.NET takes it).
    private readonly HashSet<string> _groupNames = [];

    private PatternParser(string text)
    {
        _text = text;
    }

    /// <exception cref="PatternNotTakenException">A pattern copal does not take, with why.</exception>
    public static PatternNode Parse(string text)
    {
        var parser = new PatternParser(text);
        PatternNode node = parser.Disjunction();
        if (parser._at < text.Length)
        {
            throw parser.Refuse("a ')' closes no group");
        }
        return node;
    }

    private bool AtEnd => _at >= _text.Length;

    private char Peek => _text[_at];

    private bool Next(string text) => string.CompareOrdinal(_text, _at, text, 0, text.Length) == 0;

    private PatternNotTakenException Refuse(string why) =>
        new(FormattableString.Invariant($"{why} (at character {Math.Min(_at, _text.Length)})"));

    private PatternNode Disjunction()
    {
        var choices = new List<PatternNode> { Alternative() };
        while (!AtEnd && Peek == '|')
        {
            _at++;
            choices.Add(Alternative());
        }
        return choices.Count == 1 ? choices[0] : new ChoiceNode(choices);
    }

    private PatternNode Alternative()
    {
        var parts = new List<PatternNode>();
        while (!AtEnd && Peek is not ('|' or ')'))
        {
            parts.Add(Term());
        }
        return parts.Count == 1 ? parts[0] : new SequenceNode(parts);
    }

    private PatternNode Term()
    {
        PatternNode? assertion = Peek switch
        {
            '^' => new AnchorNode(AtStart: true),
            '$' => new AnchorNode(AtStart: false),
            _ => null,
        };
        if (assertion is not null)
        {
            _at++;
        }
        else if (Next("(?=") || Next("(?!"))
        {
            bool negative = _text[_at + 2] == '!';
            _at += 3;
            assertion = new LookaheadNode(Group(), negative);
        }
        if (assertion is not null)
        {
            if (!AtEnd && Peek is '*' or '+' or '?' or '{')
            {
                throw Refuse("a quantifier after an anchor or a lookahead repeats nothing");
            }
            return assertion;
        }
        return Quantified(Atom());
    }

    private PatternNode Atom()
    {
        char c = _text[_at++];
        switch (c)
        {
            case '.':
                return CharNode.Of(CharSet.Dot);
            case '(':
                if (Next("?<=") || Next("?<!"))
                {
                    throw Refuse("a lookbehind is not taken");
                }
                if (Next("?:"))
                {
                    _at += 2;
                }
                else if (Next("?<"))
                {
                    // A named group, (?<name>…): ECMAScript's and .NET's; its name matters only to backreferences.
                    int close = _text.IndexOf('>', _at);
                    ReadOnlySpan<char> name = close < 0 ? default : _text.AsSpan(_at + 2, close - _at - 2);
                    if (name.IsEmpty || name.ContainsAnyExcept(GroupNameCharacters) || char.IsAsciiDigit(name[0]))
                    {
                        throw Refuse("a group name must be ASCII letters, digits or _ closed by '>'");
                    }
                    if (!_groupNames.Add(name.ToString()))
                    {
                        throw Refuse($"the group name '{name}' is given twice");
                    }
                    _at = close + 1;
                }
                else if (!AtEnd && Peek == '?')
                {
                    throw Refuse("'(?' starts no group copal takes (it takes (?:…), (?<name>…), and (?=…) or (?!…) right after a leading ^)");
                }
                return Group();
            case '[':
                return Class();
            case '\\':
                return CharNode.Of(Escape(inClass: false).Reading);
            case '*' or '+' or '?':
                throw Refuse($"'{c}' follows nothing it could repeat");
            case '{':
                throw Refuse("a '{' that starts no quantifier (engines read it differently); write \\{ for the character");
            default:
                return new CharNode(CharSet.Single(Literal(c)));
        }
    }

    // The body of a group up to its ')'.
    private PatternNode Group()
    {
        if (++_depth > MaxDepth)
        {
            throw Refuse($"groups nested more than {MaxDepth} deep are not taken");
        }
        PatternNode body = Disjunction();
        _depth--;
        if (AtEnd)
        {
            throw Refuse("a '(' is never closed");
        }
        _at++;
        return body;
    }

    private int Literal(char c) => char.IsSurrogate(c)
        ? throw Refuse("a character beyond U+FFFF is not taken (engines count it as one character or two)")
        : c;

    private PatternNode Quantified(PatternNode atom)
    {
        if (AtEnd)
        {
            return atom;
        }
        int min, max;
        switch (Peek)
        {
            case '*':
                (min, max) = (0, -1);
                _at++;
                break;
            case '+':
                (min, max) = (1, -1);
                _at++;
                break;
            case '?':
                (min, max) = (0, 1);
                _at++;
                break;
            case '{':
                (min, max) = Braces();
                break;
            default:
                return atom;
        }
        // A lazy quantifier matches the same strings; only which match is found first differs.
        if (!AtEnd && Peek == '?')
        {
            _at++;
        }
        if (!AtEnd && Peek is '*' or '+' or '?' or '{')
        {
            throw Refuse("a quantifier after a quantifier repeats nothing");
        }
        return new RepeatNode(atom, min, max);
    }

    // {n}, {n,} or {n,m}, each count at most MaxRepeat.
    private (int Min, int Max) Braces()
    {
        int start = _at++;
        int min = Number();
        int max = min;
        if (!AtEnd && Peek == ',')
        {
            _at++;
            max = !AtEnd && char.IsAsciiDigit(Peek) ? Number() : -1;
        }
        if (min < 0 || AtEnd || Peek != '}')
        {
            _at = start;
            throw Refuse("a '{' that starts no quantifier (engines read it differently); write \\{ for the character");
        }
        _at++;
        if (max >= 0 && max < min)
        {
            throw Refuse($"the quantifier {{{min},{max}}} has its counts out of order");
        }
        return (min, max);
    }

    // Digits as a count: −1 where there are none; refused past MaxRepeat.
    private int Number()
    {
        int start = _at;
        while (!AtEnd && char.IsAsciiDigit(Peek))
        {
            _at++;
        }
        if (_at == start)
        {
            return -1;
        }
        if (!int.TryParse(_text.AsSpan(start, _at - start), NumberStyles.None, CultureInfo.InvariantCulture, out int n) || n > MaxRepeat)
        {
            throw Refuse($"a quantifier's count past {MaxRepeat} is not taken");
        }
        return n;
    }

    private PatternNode Class()
    {
        bool negated = !AtEnd && Peek == '^';
        if (negated)
        {
            _at++;
        }
        if (!AtEnd && Peek == ']')
        {
            throw Refuse("an empty class '[]' or '[^]' (engines read it differently)");
        }
        CharSet.Reading members = CharSet.Reading.Exactly(CharSet.Empty);
        var escapes = new HashSet<char>();
        while (true)
        {
            if (AtEnd)
            {
                throw Refuse("a '[' is never closed");
            }
            if (Peek == ']')
            {
                _at++;
                break;
            }
            (CharSet.Reading item, int single) = ClassAtom();
            if (single < 0)
            {
                escapes.Add(_text[_at - 1]);
            }
            if (!AtEnd && Peek == '-' && _at + 1 < _text.Length && _text[_at + 1] != ']')
            {
                _at++;
                (_, int last) = ClassAtom();
                if (single < 0 || last < 0)
                {
                    throw Refuse("a range in a class with a class escape (\\d, \\w, \\s) at an end");
                }
                if (last < single)
                {
                    throw Refuse("a range in a class has its ends out of order");
                }
                item = CharSet.Reading.Exactly(CharSet.Of([(single, last)]));
            }
            members = members.Union(item);
        }
        // A class escape beside its complement ([\s\S], [\w\W], [\d\D]) holds every character in each engine's
        // reading, whatever the engine counts in the category; the union of Min readings would leave out what engines
        // count differently.
        if (escapes.Any(e => char.IsAsciiLetterLower(e) && escapes.Contains(char.ToUpperInvariant(e))))
        {
            members = CharSet.Reading.Exactly(CharSet.All);
        }
        return CharNode.Of(negated ? members.Not() : members);
    }

    // One member of a class: its characters, and the one character it is (−1 for a class escape).
    private (CharSet.Reading Reading, int Single) ClassAtom()
    {
        char c = _text[_at++];
        if (c == '\\')
        {
            return Escape(inClass: true);
        }
        if (c == '[')
        {
            _at--;
            throw Refuse("an unescaped '[' in a class (.NET reads '-[' as a subtraction); write \\[");
        }
        int single = Literal(c);
        return (CharSet.Reading.Exactly(CharSet.Single(single)), single);
    }

    // After a backslash: a class escape, a character's escape, or a syntax character as itself.
    private (CharSet.Reading Reading, int Single) Escape(bool inClass)
    {
        if (AtEnd)
        {
            throw Refuse("the pattern ends in a lone backslash");
        }
        char c = _text[_at++];
        switch (c)
        {
            case 'd':
                return (CharSet.Digits, -1);
            case 'D':
                return (CharSet.Digits.Not(), -1);
            case 'w':
                return (CharSet.Word, -1);
            case 'W':
                return (CharSet.Word.Not(), -1);
            case 's':
                return (CharSet.Space, -1);
            case 'S':
                return (CharSet.Space.Not(), -1);
            case 't':
                return One('\t');
            case 'n':
                return One('\n');
            case 'v':
                return One('\v');
            case 'f':
                return One('\f');
            case 'r':
                return One('\r');
            case 'b' when inClass:
                return One('\b');
            case '0' when AtEnd || !char.IsAsciiDigit(Peek):
                return One('\0');
            case 'x':
                return One(Hex(2));
            case 'u':
                int code = Hex(4);
                return char.IsSurrogate((char)code) ? throw Refuse("a \\u escape of a surrogate is not taken") : One(code);
            case 'b' or 'B':
                throw Refuse($"\\{c} (a word boundary) is not taken");
            case >= '0' and <= '9':
                throw Refuse("a backreference or octal escape is not taken");
            case 'c' or 'k' or 'p' or 'P':
                throw Refuse($"\\{c} is not taken");
        }
        // .NET refuses an escaped word character (_ and letters past ASCII among them), Python an escaped ASCII letter.
        if (char.IsAsciiLetterOrDigit(c) || c == '_' || !char.IsAscii(c))
        {
            throw Refuse($"\\{c} is no escape every engine reads alike; write the character itself");
        }
        // A syntax character, or any other ASCII one that is not a letter, digit or _, as itself.
        return One(Literal(c));
    }

    private static (CharSet.Reading, int) One(int c) => (CharSet.Reading.Exactly(CharSet.Single(c)), c);

    private int Hex(int digits)
    {
        if (_at + digits > _text.Length || !int.TryParse(_text.AsSpan(_at, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int value)
            || _text.AsSpan(_at, digits).ContainsAnyExcept("0123456789abcdefABCDEF"))
        {
            throw Refuse($"a \\{_text[_at - 1]} escape needs {digits} hexadecimal digits");
        }
        _at += digits;
        return value;
    }
}
