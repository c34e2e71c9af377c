using Copal.Model.Generation.Constraints.Schema.Patterns;

namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// A string held to JSON Schema's <c>pattern</c> (and to minLength and maxLength beside it): a deterministic automaton
/// over its characters, read from the bytes of the JSON string as they come. A character may be written as its UTF-8
/// bytes, as a short escape (<c>\"</c>, <c>\\</c>, <c>\/</c>, <c>\b</c>, <c>\f</c>, <c>\n</c>, <c>\r</c>,
/// <c>\t</c>) or as <c>\uXXXX</c> (but in a string held to formats alone, written without escapes); a byte is taken
/// only where some character it may begin leads on to a match, so a reply never writes a string it cannot finish. Characters beyond U+FFFF are never written (see <see cref="CharSet"/>).
/// The progress is one long (the automaton's state, where a character's bytes stand, and its bits so far), so a
/// schema's states stay values. Immutable; shared by every reply under the schema.
/// </summary>
internal sealed class StringPattern
{
    private readonly CharClasses _classes;
    private readonly PatternDfa _dfa;
    // Whether a state has any character that leads on (a backslash may begin it, since \u writes any).
    private readonly bool[] _anyNext;
    // Whether a character may be escaped: not in a string held to formats alone (see PatternSource.Subset).
    private readonly bool _escapes;

    /// <summary>The states a pattern's product with a maxLength is kept within, by lowering the most (0.15-0.2 s to compile, on this project's machine, for a host name's).</summary>
    public const int LengthBudget = 32_768;

    private StringPattern(CharClasses classes, PatternDfa dfa, bool escapes)
    {
        _classes = classes;
        _dfa = dfa;
        _escapes = escapes;
        _anyNext = new bool[dfa.StateCount];
        for (int s = 0; s < dfa.StateCount; s++)
        {
            _anyNext[s] = dfa.Next.AsSpan(s * dfa.ClassCount, dfa.ClassCount).ContainsAnyExcept(-1);
        }
    }

    /// <summary>The branches this automaton was compiled from, so that a union with another string branch compiles them together.</summary>
    public IReadOnlyList<PatternSource> Sources { get; private init; } = [];

    /// <summary>Whether <see cref="Sources"/> were joined as oneOf (exactly one branch) rather than anyOf.</summary>
    public bool Exclusive { get; private init; }

    /// <summary>
    /// The strings that match <paramref name="pattern"/> (anywhere, unless anchored) and have
    /// <paramref name="minLength"/> to <paramref name="maxLength"/> characters (−1: no most); null where none does.
    /// </summary>
    /// <exception cref="PatternNotTakenException">A pattern copal does not hold a string to, with why.</exception>
    public static StringPattern? Compile(string pattern, int minLength, int maxLength, bool subset = false) =>
        Compile([new PatternSource(pattern, minLength, maxLength, subset)], exclusive: false);

    /// <summary>
    /// The strings of any of the branches (anyOf), or, where <paramref name="exclusive"/>, of exactly one (oneOf);
    /// null where none is.
    /// </summary>
    /// <exception cref="PatternNotTakenException">A pattern copal does not hold a string to, or a union past the automata's limits.</exception>
    public static StringPattern? Compile(IReadOnlyList<PatternSource> sources, bool exclusive)
    {
        // oneOf subtracts each branch's strings from the others': a branch held to fewer strings than it takes (a
        // format's subset, a maxLength lowered to fit) would leave in strings two branches take.
        bool exact = exclusive && sources.Count > 1;
        if (exact && sources.Any(s => s.Subset))
        {
            throw new PatternNotTakenException("a format held to the forms copal writes cannot be told apart from another string branch under oneOf (the reference takes strings of it copal never writes); use anyOf");
        }
        var parsed = sources.Select(s => (Source: s, Parts: Parse(s.Pattern))).ToList();
        var sets = new List<CharSet>();
        foreach ((_, (PatternNode main, List<LookaheadNode> lookaheads)) in parsed)
        {
            Collect(main, sets);
            lookaheads.ForEach(l => Collect(l.Body, sets));
        }
        // One alphabet for every branch, so that their automata run side by side.
        CharClasses classes = CharClasses.Of(sets);
        PatternDfa any = Branch(parsed[0].Source, parsed[0].Parts.Main, parsed[0].Parts.Lookaheads, classes, exact);
        PatternDfa? many = null;
        foreach ((PatternSource source, (PatternNode main, List<LookaheadNode> lookaheads)) in parsed.Skip(1))
        {
            PatternDfa branch = Branch(source, main, lookaheads, classes, exact);
            if (exclusive)
            {
                // Matched by two or more so far: oneOf fails those strings.
                PatternDfa both = PatternDfa.Product(any, branch, (a, b) => a && b).Minimized();
                many = many is null ? both : PatternDfa.Product(many, both, (a, b) => a || b).Minimized();
            }
            any = PatternDfa.Product(any, branch, (a, b) => a || b).Minimized();
        }
        PatternDfa dfa = many is null ? any : PatternDfa.Product(any, many, (a, b) => a && !b);
        return dfa.Reduced() is PatternDfa reduced ? new StringPattern(classes, reduced, escapes: !sources.All(s => s.Subset)) { Sources = sources, Exclusive = exclusive && sources.Count > 1 } : null;
    }

    // One branch's automaton: its pattern, its lookaheads at the start, its lengths (held exactly where `exact`).
    private static PatternDfa Branch(PatternSource source, PatternNode main, List<LookaheadNode> lookaheads, CharClasses classes, bool exact)
    {
        PatternDfa dfa = PatternDfa.Determinize(PatternNfa.Build(main, anywhere: true), classes).Minimized();
        foreach (LookaheadNode lookahead in lookaheads)
        {
            // Whether the lookahead's body matches from the start: some start of the string matches it.
            PatternDfa body = PatternDfa.Determinize(PatternNfa.Build(lookahead.Body, anywhere: false), classes).Minimized();
            dfa = PatternDfa.Product(dfa, body, (a, b) => a && b != lookahead.Negative).Minimized();
        }
        (int minLength, int maxLength) = (source.MinLength, source.MaxLength);
        if (minLength > 0 || maxLength >= 0)
        {
            // A most past what a product of LengthBudget states holds (each state once per count) is lowered to the
            // longest that fits: fewer strings, each still one the schema takes (a host name's own 253 is about 130).
            int fits = (LengthBudget / dfa.StateCount) - 2;
            if (maxLength > fits && exact)
            {
                throw new PatternNotTakenException($"maxLength {maxLength} is past the {Math.Max(fits, 0)} characters copal holds this pattern to exactly, which oneOf needs; use anyOf or a lower maxLength");
            }
            if (maxLength > fits && fits >= minLength)
            {
                maxLength = fits;
            }
            dfa = PatternDfa.Product(dfa, PatternDfa.Lengths(classes.Count, minLength, maxLength), (a, b) => a && b).Minimized();
        }
        return dfa;
    }

    // The pattern's main part and its lookaheads at the start. A negative lookahead fails where any engine's reading
    // of its body matches: its body is read at the upper sets (.NET's and Python's dot take \r, ECMAScript's \s takes
    // U+00A0), and, where its body has a $ (which .NET and Python also find before a final \n), no string ends in \n.
    private static (PatternNode Main, List<LookaheadNode> Lookaheads) Parse(string pattern)
    {
        (PatternNode main, List<LookaheadNode> lookaheads) = SplitLookaheads(PatternParser.Parse(pattern));
        lookaheads = [.. lookaheads.Select(l => l.Negative ? l with { Body = Upper(l.Body) } : l)];
        if (lookaheads.Any(l => l.Negative && HasEnd(l.Body)))
        {
            lookaheads.Add(new LookaheadNode(NoFinalNewline, Negative: false));
        }
        return (main, lookaheads);
    }

    // ^(?=…)(?!…)… at the pattern's start: the lookaheads hold at the string's start, so they are automata of their
    // own, intersected with the rest. A lookahead anywhere else is refused (PatternNfa).
    private static (PatternNode Main, List<LookaheadNode> Lookaheads) SplitLookaheads(PatternNode node)
    {
        if (node is SequenceNode { Parts: [AnchorNode { AtStart: true } anchor, LookaheadNode, ..] parts })
        {
            List<LookaheadNode> lookaheads = [.. parts.Skip(1).TakeWhile(p => p is LookaheadNode).Cast<LookaheadNode>()];
            return (new SequenceNode([anchor, .. parts.Skip(1 + lookaheads.Count)]), lookaheads);
        }
        return (node, []);
    }

    // ^(?:[\s\S]*[^\n])?$: the empty string, or one whose last character is no line feed.
    private static readonly PatternNode NoFinalNewline = new SequenceNode([
        new AnchorNode(AtStart: true),
        new RepeatNode(new SequenceNode([new RepeatNode(new CharNode(CharSet.All), 0, -1), new CharNode(CharSet.Single('\n').Complement())]), 0, 1),
        new AnchorNode(AtStart: false)]);

    // The node with every character read at its upper set.
    private static PatternNode Upper(PatternNode node) => node switch
    {
        CharNode c => new CharNode(c.Upper),
        SequenceNode s => new SequenceNode([.. s.Parts.Select(Upper)]),
        ChoiceNode c => new ChoiceNode([.. c.Choices.Select(Upper)]),
        RepeatNode r => r with { Body = Upper(r.Body) },
        LookaheadNode l => l with { Body = Upper(l.Body) },
        _ => node,
    };

    private static bool HasEnd(PatternNode node) => node switch
    {
        AnchorNode a => !a.AtStart,
        SequenceNode s => s.Parts.Any(HasEnd),
        ChoiceNode c => c.Choices.Any(HasEnd),
        RepeatNode r => HasEnd(r.Body),
        LookaheadNode l => HasEnd(l.Body),
        _ => false,
    };

    private static void Collect(PatternNode node, List<CharSet> sets)
    {
        switch (node)
        {
            case CharNode c:
                sets.Add(c.Set);
                break;
            case SequenceNode s:
                s.Parts.ToList().ForEach(p => Collect(p, sets));
                break;
            case ChoiceNode c:
                c.Choices.ToList().ForEach(p => Collect(p, sets));
                break;
            case RepeatNode r:
                Collect(r.Body, sets);
                break;
            case LookaheadNode l:
                Collect(l.Body, sets);
                break;
        }
    }

    /// <summary>The automaton's states: as few as tell apart what may still follow.</summary>
    public int StateCount => _dfa.StateCount;

    /// <summary>Whether <paramref name="value"/> is a string of the pattern's (as written: no character beyond U+FFFF).</summary>
    public bool Matches(string value)
    {
        int state = 0;
        foreach (char c in value)
        {
            state = NextState(state, c);
            if (state < 0)
            {
                return false;
            }
        }
        return _dfa.Accept[state];
    }

    // The packed progress: the automaton's state (bits 0-15), where a character's bytes stand (16-19), the character's
    // bits so far (20-35).
    private const int Between = 0, OneByteDue = 1, TwoBytesDue = 2, Escape = 3, Hex = 4; // Hex + the digits read, 0..3

    private static long Pack(int state, int phase = Between, int bits = 0) => (uint)state | ((long)phase << 16) | ((long)bits << 20);

    /// <summary>Whether the bytes so far stop within a character (its escape or UTF-8 sequence begun).</summary>
    public bool InCharacter(long progress) => ((progress >> 16) & 0xF) != Between;

    /// <summary>Whether the string so far is a whole one of the pattern (its closing quote may come).</summary>
    public bool Complete(long progress) => ((progress >> 16) & 0xF) == Between && _dfa.Accept[(int)(progress & 0xFFFF)];

    /// <summary>Takes <paramref name="b"/> into <paramref name="progress"/>; false, leaving it as it was, where no string of the pattern's goes on so.</summary>
    public bool Step(ref long progress, byte b)
    {
        long next = StepOf(progress, b);
        if (next < 0)
        {
            return false;
        }
        progress = next;
        return true;
    }

    private long StepOf(long progress, byte b)
    {
        int state = (int)(progress & 0xFFFF), phase = (int)((progress >> 16) & 0xF), bits = (int)(progress >> 20);
        switch (phase)
        {
            case Between:
                return b switch
                {
                    < 0x20 or (byte)'"' => -1,
                    (byte)'\\' => _escapes && _anyNext[state] ? Pack(state, Escape) : -1,
                    < 0x80 => Take(state, b),
                    // A two-byte sequence's lead (C2–DF): U+0080–U+07FF; a three-byte one's (E0–EF): U+0800–U+FFFF.
                    >= 0xC2 and <= 0xDF => Begin(state, OneByteDue, b & 0x1F, 6, least: 0x80),
                    >= 0xE0 and <= 0xEF => Begin(state, TwoBytesDue, b & 0x0F, 12, least: 0x800),
                    _ => -1,
                };
            case TwoBytesDue or OneByteDue:
                if ((b & 0xC0) != 0x80)
                {
                    return -1;
                }
                bits = (bits << 6) | (b & 0x3F);
                return phase == OneByteDue ? Take(state, bits) : Begin(state, OneByteDue, bits, 6, least: 0x800);
            case Escape:
                return b switch
                {
                    (byte)'"' or (byte)'\\' or (byte)'/' => Take(state, b),
                    (byte)'b' => Take(state, '\b'),
                    (byte)'f' => Take(state, '\f'),
                    (byte)'n' => Take(state, '\n'),
                    (byte)'r' => Take(state, '\r'),
                    (byte)'t' => Take(state, '\t'),
                    (byte)'u' => Pack(state, Hex),
                    _ => -1,
                };
            default:
                int digit = HexValue(b), read = phase - Hex + 1;
                if (digit < 0)
                {
                    return -1;
                }
                bits = (bits << 4) | digit;
                return read == 4 ? Take(state, bits) : Begin(state, phase + 1, bits, 4 * (4 - read), least: 0);
        }
    }

    // The first bits of a character, with `shift` bits still to come: taken where a character so begun leads on. UTF-8
    // writes each character in its shortest form (`least`: at least U+0080 in two bytes, U+0800 in three), and no
    // surrogate is in any class.
    private long Begin(int state, int phase, int bits, int shift, int least)
    {
        int lo = Math.Max(bits << shift, least), hi = (bits << shift) + (1 << shift) - 1;
        return lo <= hi && _classes.AnyWithin(lo, hi, Row(state)) ? Pack(state, phase, bits) : -1;
    }

    private long Take(int state, int c)
    {
        int next = NextState(state, c);
        return next < 0 ? -1 : Pack(next);
    }

    private int NextState(int state, int c)
    {
        int k = _classes.ClassOf(c);
        return k < 0 ? -1 : _dfa.Next[(state * _dfa.ClassCount) + k];
    }

    private ReadOnlySpan<int> Row(int state) => _dfa.Next.AsSpan(state * _dfa.ClassCount, _dfa.ClassCount);

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}
