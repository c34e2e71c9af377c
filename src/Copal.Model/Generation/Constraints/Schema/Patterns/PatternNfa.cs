namespace Copal.Model.Generation.Constraints.Schema.Patterns;

/// <summary>
/// A pattern as a nondeterministic automaton over characters (Thompson's construction): each state has at most one
/// character edge, any number of empty edges, and at most one anchor edge, taken only at the string's start (^) or end
/// ($). Built for a search, as JSON Schema's <c>pattern</c> is (it matches anywhere unless anchored): any characters
/// may come before the pattern and after it.
/// </summary>
internal sealed class PatternNfa
{
    /// <summary>The most states a pattern may build (quantifiers copy their bodies).</summary>
    public const int MaxStates = 100_000;

    private readonly List<CharSet?> _charSet = [];
    private readonly List<int> _charTo = [];
    private readonly List<List<int>> _empty = [];
    private readonly List<(bool AtStart, int To)?> _anchor = [];
    private int[] _seen = [];
    private int _stamp;

    private PatternNfa()
    {
    }

    public int Start { get; private set; }

    public int Final { get; private set; }

    public int StateCount => _charTo.Count;

    /// <summary>The characters of state <paramref name="s"/>'s character edge, or null where it has none.</summary>
    public CharSet? CharSetOf(int s) => _charSet[s];

    public int CharTarget(int s) => _charTo[s];

    /// <summary>
    /// The automaton of <paramref name="pattern"/>, with any characters before it where <paramref name="anywhere"/>
    /// (a search), else from the string's start (a lookahead there), and any characters after it.
    /// </summary>
    public static PatternNfa Build(PatternNode pattern, bool anywhere)
    {
        var nfa = new PatternNfa();
        (int start, int end) = nfa.Add(pattern);
        if (anywhere)
        {
            int before = nfa.NewState();
            nfa.SetChar(before, CharSet.All, before);
            nfa._empty[before].Add(start);
            start = before;
        }
        int after = nfa.NewState();
        nfa.SetChar(after, CharSet.All, after);
        nfa._empty[end].Add(after);
        (nfa.Start, nfa.Final) = (start, after);
        return nfa;
    }

    /// <summary>
    /// The states reached from <paramref name="states"/> by empty edges, and by anchor edges where they hold: ^ at the
    /// string's start, $ at its end; in order.
    /// </summary>
    public int[] Closure(IEnumerable<int> states, bool atStart, bool atEnd)
    {
        // A stamp per state marks it seen in this closure, so a closure costs what it reaches, not the automaton's size.
        if (_seen.Length < StateCount)
        {
            _seen = new int[StateCount];
        }
        _stamp++;
        var found = new List<int>();
        var stack = new Stack<int>(states);
        while (stack.TryPop(out int s))
        {
            if (_seen[s] == _stamp)
            {
                continue;
            }
            _seen[s] = _stamp;
            found.Add(s);
            foreach (int t in _empty[s])
            {
                stack.Push(t);
            }
            if (_anchor[s] is (bool anchorAtStart, int to) && (anchorAtStart ? atStart : atEnd))
            {
                stack.Push(to);
            }
        }
        found.Sort();
        return [.. found];
    }

    private int NewState()
    {
        if (_charTo.Count == MaxStates)
        {
            throw new PatternNotTakenException($"it builds more than {MaxStates} states; write smaller counts in its quantifiers");
        }
        _charSet.Add(null);
        _charTo.Add(-1);
        _empty.Add([]);
        _anchor.Add(null);
        return _charTo.Count - 1;
    }

    private void SetChar(int from, CharSet set, int to)
    {
        _charSet[from] = set;
        _charTo[from] = to;
    }

    // A fragment for the node: its entry and exit states.
    private (int Start, int End) Add(PatternNode node)
    {
        switch (node)
        {
            case CharNode c:
            {
                int s = NewState(), t = NewState();
                SetChar(s, c.Set, t);
                return (s, t);
            }
            case SequenceNode sequence:
            {
                int s = NewState(), at = s;
                foreach (PatternNode part in sequence.Parts)
                {
                    (int ps, int pe) = Add(part);
                    _empty[at].Add(ps);
                    at = pe;
                }
                return (s, at);
            }
            case ChoiceNode choice:
            {
                int s = NewState(), t = NewState();
                foreach (PatternNode option in choice.Choices)
                {
                    (int os, int oe) = Add(option);
                    _empty[s].Add(os);
                    _empty[oe].Add(t);
                }
                return (s, t);
            }
            case RepeatNode repeat:
                return Repeat(repeat);
            case AnchorNode anchor:
            {
                int s = NewState(), t = NewState();
                _anchor[s] = (anchor.AtStart, t);
                return (s, t);
            }
            default:
                throw new PatternNotTakenException("a lookahead is taken only right after the pattern's leading ^ (as in ^(?!…)…)");
        }
    }

    // The body Min times, then up to Max − Min more (each of which may end the repeat), or, with no Max, a loop.
    private (int Start, int End) Repeat(RepeatNode repeat)
    {
        int s = NewState(), at = s;
        for (int i = 0; i < repeat.Min; i++)
        {
            (int bs, int be) = Add(repeat.Body);
            _empty[at].Add(bs);
            at = be;
        }
        if (repeat.Max < 0)
        {
            int loop = NewState();
            _empty[at].Add(loop);
            (int bs, int be) = Add(repeat.Body);
            _empty[loop].Add(bs);
            _empty[be].Add(loop);
            return (s, loop);
        }
        int end = NewState();
        _empty[at].Add(end);
        for (int i = repeat.Min; i < repeat.Max; i++)
        {
            (int bs, int be) = Add(repeat.Body);
            _empty[at].Add(bs);
            _empty[be].Add(end);
            at = be;
        }
        return (s, end);
    }
}
