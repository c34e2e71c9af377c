namespace Copal.Model.Generation.Constraints.Schema.Patterns;

/// <summary>
/// A deterministic automaton over character classes (<see cref="CharClasses"/>), state 0 the start. Built complete (a
/// dead state where nothing matches any more), so that products and complements are exact; <see cref="Reduced"/> then
/// keeps the states that lead to a match, merges those that match alike, and marks every other transition −1.
/// </summary>
internal sealed class PatternDfa
{
    /// <summary>The most states an automaton may have while it is built.</summary>
    public const int MaxStates = 4096;

    private PatternDfa(int classCount, int[] next, bool[] accept)
    {
        ClassCount = classCount;
        Next = next;
        Accept = accept;
    }

    public int ClassCount { get; }

    /// <summary>The state after each state and class (state × ClassCount + class); −1: none.</summary>
    public int[] Next { get; }

    /// <summary>Whether the string read so far matches.</summary>
    public bool[] Accept { get; }

    public int StateCount => Accept.Length;

    /// <summary>The subset construction: a state per set of the automaton's states, ^ followed only before the first character and $ only to tell a match.</summary>
    public static PatternDfa Determinize(PatternNfa nfa, CharClasses classes)
    {
        var members = new Dictionary<CharSet, bool[]>(ReferenceEqualityComparer.Instance);
        var ids = new Dictionary<string, int>();
        var sets = new List<int[]>();
        var next = new List<int>();
        var accept = new List<bool>();
        // The start is its own state: only there does ^ hold.
        int[] start = [.. nfa.Closure([nfa.Start], atStart: true, atEnd: false)];
        sets.Add(start);
        ids["^" + string.Join(',', start)] = 0;
        for (int d = 0; d < sets.Count; d++)
        {
            int[] set = sets[d];
            accept.Add(nfa.Closure(set, atStart: d == 0, atEnd: true).Contains(nfa.Final));
            var moves = new Dictionary<string, int>();
            for (int k = 0; k < classes.Count; k++)
            {
                var targets = new List<int>();
                foreach (int s in set)
                {
                    if (nfa.CharSetOf(s) is CharSet chars && MembersOf(chars)[k])
                    {
                        targets.Add(nfa.CharTarget(s));
                    }
                }
                int[] target = [.. nfa.Closure(targets, atStart: false, atEnd: false)];
                string key = string.Join(',', target);
                if (!ids.TryGetValue(key, out int id))
                {
                    if (sets.Count == MaxStates)
                    {
                        throw TooMany();
                    }
                    id = sets.Count;
                    ids[key] = id;
                    sets.Add(target);
                }
                next.Add(id);
            }
        }
        return new PatternDfa(classes.Count, [.. next], [.. accept]);

        bool[] MembersOf(CharSet chars)
        {
            if (!members.TryGetValue(chars, out bool[]? m))
            {
                m = classes.Members(chars);
                members[chars] = m;
            }
            return m;
        }
    }

    /// <summary>Both automata at once (both complete, over the same classes): a string matches where <paramref name="accept"/> says of theirs.</summary>
    public static PatternDfa Product(PatternDfa a, PatternDfa b, Func<bool, bool, bool> accept)
    {
        var ids = new Dictionary<(int, int), int> { [(0, 0)] = 0 };
        var pairs = new List<(int A, int B)> { (0, 0) };
        var next = new List<int>();
        var accepts = new List<bool>();
        for (int d = 0; d < pairs.Count; d++)
        {
            (int sa, int sb) = pairs[d];
            accepts.Add(accept(a.Accept[sa], b.Accept[sb]));
            for (int k = 0; k < a.ClassCount; k++)
            {
                (int, int) pair = (a.Next[(sa * a.ClassCount) + k], b.Next[(sb * b.ClassCount) + k]);
                if (!ids.TryGetValue(pair, out int id))
                {
                    if (pairs.Count == MaxStates)
                    {
                        throw TooMany();
                    }
                    id = pairs.Count;
                    ids[pair] = id;
                    pairs.Add(pair);
                }
                next.Add(id);
            }
        }
        return new PatternDfa(a.ClassCount, [.. next], [.. accepts]);
    }

    /// <summary>The strings of <paramref name="min"/> to <paramref name="max"/> characters (−1: no most), counted up to the larger.</summary>
    public static PatternDfa Lengths(int classCount, int min, int max)
    {
        int cap = Math.Max(min, max);
        if (cap + 2 > MaxStates)
        {
            throw new PatternNotTakenException($"beside minLength or maxLength past {MaxStates - 2} it is not taken");
        }
        // States 0 .. cap count characters (cap: that many or more, where there is no most); cap + 1 is past the most.
        int dead = cap + 1;
        int[] next = new int[(cap + 2) * classCount];
        bool[] accept = new bool[cap + 2];
        for (int s = 0; s <= dead; s++)
        {
            int to = s == dead || s == max ? dead : Math.Min(s + 1, cap);
            next.AsSpan(s * classCount, classCount).Fill(to);
            accept[s] = s != dead && s >= min && (max < 0 || s <= max);
        }
        return new PatternDfa(classCount, next, accept);
    }

    /// <summary>The same automaton, complete still, with the states that match alike merged (all dead states one).</summary>
    public PatternDfa Minimized() => Rebuild(keepDead: true)!;

    /// <summary>
    /// The automaton with only the states reached from the start that lead to a match, those that match alike merged
    /// (so equal progress is one state), the start 0, and −1 for every transition to a state left out; null where no
    /// string matches.
    /// </summary>
    public PatternDfa? Reduced() => Rebuild(keepDead: false);

    private PatternDfa? Rebuild(bool keepDead)
    {
        bool[] live = Live();
        if (!live[0] && !keepDead)
        {
            return null;
        }
        int[] block = Blocks(live);
        // Number the blocks (−1: the dead states) in the order a walk from the start meets them.
        var order = new Dictionary<int, int> { [block[0]] = 0 };
        var representative = new List<int> { 0 };
        for (int i = 0; i < representative.Count; i++)
        {
            int s = representative[i];
            for (int k = 0; k < ClassCount; k++)
            {
                int t = Next[(s * ClassCount) + k];
                if ((live[t] || keepDead) && order.TryAdd(block[t], order.Count))
                {
                    representative.Add(t);
                }
            }
        }
        int[] next = new int[representative.Count * ClassCount];
        bool[] accept = new bool[representative.Count];
        for (int i = 0; i < representative.Count; i++)
        {
            int s = representative[i];
            accept[i] = Accept[s];
            for (int k = 0; k < ClassCount; k++)
            {
                int t = Next[(s * ClassCount) + k];
                next[(i * ClassCount) + k] = live[t] || keepDead ? order[block[t]] : -1;
            }
        }
        return new PatternDfa(ClassCount, next, accept);
    }

    // The states from which a match can still be reached.
    private bool[] Live()
    {
        var into = new List<int>[StateCount];
        for (int s = 0; s < StateCount; s++)
        {
            into[s] = [];
        }
        for (int s = 0; s < StateCount; s++)
        {
            for (int k = 0; k < ClassCount; k++)
            {
                into[Next[(s * ClassCount) + k]].Add(s);
            }
        }
        bool[] live = new bool[StateCount];
        var stack = new Stack<int>(Enumerable.Range(0, StateCount).Where(s => Accept[s]));
        while (stack.TryPop(out int s))
        {
            if (live[s])
            {
                continue;
            }
            live[s] = true;
            foreach (int from in into[s])
            {
                stack.Push(from);
            }
        }
        return live;
    }

    // Moore's refinement: live states split by whether they match, then by the blocks their transitions lead to
    // (a dead state's block is −1), until no block splits. Equal blocks accept the same strings.
    private int[] Blocks(bool[] live)
    {
        int[] block = new int[StateCount];
        for (int s = 0; s < StateCount; s++)
        {
            block[s] = !live[s] ? -1 : Accept[s] ? 1 : 0;
        }
        for (int count = -1; ;)
        {
            var ids = new Dictionary<string, int>();
            int[] refined = new int[StateCount];
            for (int s = 0; s < StateCount; s++)
            {
                if (!live[s])
                {
                    refined[s] = -1;
                    continue;
                }
                var signature = new System.Text.StringBuilder().Append(block[s]);
                for (int k = 0; k < ClassCount; k++)
                {
                    signature.Append(',').Append(block[Next[(s * ClassCount) + k]]);
                }
                string key = signature.ToString();
                if (!ids.TryGetValue(key, out int id))
                {
                    id = ids.Count;
                    ids[key] = id;
                }
                refined[s] = id;
            }
            block = refined;
            if (ids.Count == count)
            {
                return block;
            }
            count = ids.Count;
        }
    }

    private static PatternNotTakenException TooMany() =>
        new($"its automaton has more than {MaxStates} states; write smaller counts in its quantifiers (or minLength and maxLength)");
}
