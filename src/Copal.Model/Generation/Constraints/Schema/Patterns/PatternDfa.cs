namespace Copal.Model.Generation.Constraints.Schema.Patterns;

/// <summary>
/// A deterministic automaton over character classes (<see cref="CharClasses"/>), state 0 the start. Built complete (a
/// dead state where nothing matches any more), so that products and complements are exact; <see cref="Reduced"/> then
/// keeps the states that lead to a match, merges those that match alike, and marks every other transition −1.
/// </summary>
internal sealed class PatternDfa
{
    /// <summary>The most states an automaton may have while it is built (a state is 16 bits of a reply's progress).</summary>
    public const int MaxStates = 65_535;

    /// <summary>The most transitions (states × classes) an automaton may have: 16 MB of table.</summary>
    public const int MaxTransitions = 4_000_000;

    /// <summary>
    /// The most steps determinizing may take (each state of the automaton in a set, each class it moves on, and each
    /// state a distinct move reaches):
    /// a server compiles a request's pattern, so a pattern whose sets grow large (<c>(.{0,1000}){0,100}</c>) is refused
    /// rather than left to take seconds.
    /// </summary>
    public const long MaxSteps = 20_000_000;

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

    // Built by Minimized: no two states match alike, so Reduced need not split them again.
    private bool _minimal;

    public int StateCount => Accept.Length;

    /// <summary>The subset construction: a state per set of the automaton's states, ^ followed only before the first character and $ only to tell a match.</summary>
    public static PatternDfa Determinize(PatternNfa nfa, CharClasses classes)
    {
        // Each character set's classes, listed once: a state's moves cost its edges' classes, not every class.
        var classesOf = new Dictionary<CharSet, int[]>(ReferenceEqualityComparer.Instance);
        // Sets keyed by content.
        var ids = new Dictionary<int[], int>(SetComparer.Instance);
        var sets = new List<int[]>();
        var next = new List<int>();
        var accept = new List<bool>();
        // The start is its own state: only there does ^ hold.
        int[] start = nfa.Closure([nfa.Start], atStart: true, atEnd: false);
        long steps = 0;
        sets.Add(start);
        var targets = new List<int>?[classes.Count];
        var moveIds = new Dictionary<int[], int>(SetComparer.Instance);
        int dead = -1;
        for (int d = 0; d < sets.Count; d++)
        {
            int[] set = sets[d];
            accept.Add(Array.BinarySearch(nfa.Closure(set, atStart: d == 0, atEnd: true), nfa.Final) >= 0);
            Array.Clear(targets);
            steps += set.Length + classes.Count;
            foreach (int s in set)
            {
                if (nfa.CharSetOf(s) is CharSet chars)
                {
                    int[] ks = ClassesOf(chars);
                    steps += ks.Length;
                    foreach (int k in ks)
                    {
                        (targets[k] ??= []).Add(nfa.CharTarget(s));
                    }
                }
            }
            if (steps > MaxSteps)
            {
                throw new PatternNotTakenException(FormattableString.Invariant($"making its automaton deterministic takes more than {MaxSteps:N0} steps; write fewer alternatives or smaller counts in its quantifiers"));
            }
            for (int k = 0; k < classes.Count; k++)
            {
                // Most classes lead nowhere from most states: the dead state, found once.
                next.Add(targets[k] is List<int> moved ? StateAfter(moved) : dead >= 0 ? dead : dead = StateAfter([]));
            }
        }
        return new PatternDfa(classes.Count, [.. next], [.. accept]);

        // The state a move leads to, found once per distinct move (many states move alike, and a move is a few states
        // where its closure, which holds every start of a search's pattern, may be hundreds).
        int StateAfter(List<int> moved)
        {
            moved.Sort();
            int[] move = [.. moved.Distinct()];
            steps += move.Length;
            if (moveIds.TryGetValue(move, out int id))
            {
                return id;
            }
            int[] closure = nfa.Closure(move, atStart: false, atEnd: false);
            steps += closure.Length;
            if (!ids.TryGetValue(closure, out id))
            {
                if (!Fits(sets.Count + 1, classes.Count))
                {
                    throw TooMany();
                }
                id = sets.Count;
                ids[closure] = id;
                sets.Add(closure);
            }
            moveIds[move] = id;
            return id;
        }

        int[] ClassesOf(CharSet chars)
        {
            if (!classesOf.TryGetValue(chars, out int[]? ks))
            {
                ks = classes.Members(chars);
                classesOf[chars] = ks;
            }
            return ks;
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
                    if (!Fits(pairs.Count + 1, a.ClassCount))
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
        if (!Fits(cap + 2, classCount))
        {
            throw new PatternNotTakenException(FormattableString.Invariant($"beside minLength or maxLength of {cap} it is not taken (its automaton would pass {MaxStates:N0} states or {MaxTransitions:N0} transitions)"));
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
    public PatternDfa Minimized()
    {
        if (_minimal)
        {
            return this;
        }
        PatternDfa minimized = Rebuild(keepDead: true)!;
        minimized._minimal = true;
        return minimized;
    }

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
        // A minimal automaton's states are its blocks already (its reachable states: Rebuild numbers no other).
        int[] block = _minimal ? [.. Enumerable.Range(0, StateCount)] : Blocks();
        // Number the blocks in the order a walk from the start meets them.
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

    // Hopcroft's refinement: states split by whether they match, then by the blocks their transitions lead to, each
    // block's split from the smaller half (so a state moves O(log n) times), until no block splits. Equal blocks accept
    // the same strings; the dead states are one block.
    private int[] Blocks()
    {
        int n = StateCount;
        // Into each state on each class: the states that lead there (by class, then target).
        var into = new List<int>[ClassCount * n];
        for (int s = 0; s < n; s++)
        {
            for (int k = 0; k < ClassCount; k++)
            {
                (into[(k * n) + Next[(s * ClassCount) + k]] ??= []).Add(s);
            }
        }
        int[] blockOf = new int[n];
        // Where each state stands in its block's list, so that a state leaves its block in one step (the last member
        // takes its place): a split costs the states that move, never the block they leave. Rebuilding the block
        // without them instead made a chain of counting states (maxLength beside a pattern, lookaheads of .{0,1000})
        // split one state at a time at the cost of the whole block: n² steps, a minute at 60,000 states.
        int[] place = new int[n];
        var blocks = new List<List<int>>();
        foreach (bool accepting in (bool[])[true, false])
        {
            List<int> members = [.. Enumerable.Range(0, n).Where(s => Accept[s] == accepting)];
            if (members.Count > 0)
            {
                for (int i = 0; i < members.Count; i++)
                {
                    (blockOf[members[i]], place[members[i]]) = (blocks.Count, i);
                }
                blocks.Add(members);
            }
        }
        var pending = new HashSet<(int Block, int Class)>();
        var order = new Stack<(int Block, int Class)>();
        int first = blocks.Count == 2 && blocks[1].Count < blocks[0].Count ? 1 : 0;
        for (int k = 0; k < ClassCount; k++)
        {
            Push((first, k));
        }
        while (order.TryPop(out (int Block, int Class) splitter))
        {
            pending.Remove(splitter);
            // The states that lead into the splitter on its class, by their block.
            var touched = new Dictionary<int, List<int>>();
            foreach (int t in blocks[splitter.Block])
            {
                foreach (int s in into[(splitter.Class * n) + t] ?? [])
                {
                    (touched.TryGetValue(blockOf[s], out List<int>? list) ? list : touched[blockOf[s]] = []).Add(s);
                }
            }
            foreach ((int y, List<int> part) in touched)
            {
                if (part.Count == blocks[y].Count)
                {
                    continue;
                }
                int z = blocks.Count;
                List<int> left = blocks[y];
                for (int i = 0; i < part.Count; i++)
                {
                    int s = part[i];
                    int last = left[^1];
                    (left[place[s]], place[last]) = (last, place[s]);
                    left.RemoveAt(left.Count - 1);
                    (blockOf[s], place[s]) = (z, i);
                }
                blocks.Add(part);
                for (int k = 0; k < ClassCount; k++)
                {
                    Push(pending.Contains((y, k)) || blocks[z].Count < blocks[y].Count ? (z, k) : (y, k));
                }
            }
        }
        return blockOf;

        void Push((int Block, int Class) splitter)
        {
            if (pending.Add(splitter))
            {
                order.Push(splitter);
            }
        }
    }

    // Sets of states equal by content.
    private sealed class SetComparer : IEqualityComparer<int[]>
    {
        public static readonly SetComparer Instance = new();

        public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(int[] set)
        {
            var hash = new HashCode();
            hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(set.AsSpan()));
            return hash.ToHashCode();
        }
    }

    private static bool Fits(int states, int classes) => states <= MaxStates && (long)states * classes <= MaxTransitions;

    private static PatternNotTakenException TooMany() =>
        new(FormattableString.Invariant($"its automaton passes {MaxStates:N0} states or {MaxTransitions:N0} transitions; write smaller counts in its quantifiers (or minLength and maxLength)"));
}
