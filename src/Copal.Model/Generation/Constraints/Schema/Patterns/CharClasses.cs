namespace Copal.Model.Generation.Constraints.Schema.Patterns;

/// <summary>
/// The universe's characters grouped so that every set a pattern names holds a class whole or not at all (characters
/// no set tells apart are one class): the alphabet of <see cref="PatternDfa"/>. Each class is ranges of code points.
/// </summary>
internal sealed class CharClasses
{
    // Consecutive ranges covering U+0000–U+FFFF: where each starts, and its class (−1 outside the universe).
    private readonly int[] _starts;
    private readonly int[] _classOf;

    // The class of each ASCII character, looked up without a search (most of a reply's bytes are ASCII).
    private readonly int[] _ascii = new int[128];

    private CharClasses(int[] starts, int[] classOf, int count)
    {
        _starts = starts;
        _classOf = classOf;
        Count = count;
        for (int c = 0; c < _ascii.Length; c++)
        {
            _ascii[c] = Search(c);
        }
    }

    public int Count { get; }

    /// <summary>The classes that tell apart every set given.</summary>
    public static CharClasses Of(IReadOnlyList<CharSet> sets)
    {
        var bounds = new SortedSet<int> { 0 };
        foreach (CharSet set in sets.Append(CharSet.All))
        {
            foreach ((int lo, int hi) in set.Ranges)
            {
                bounds.Add(lo);
                bounds.Add(hi + 1);
            }
        }
        bounds.Remove(CharSet.Max + 1);
        int[] starts = [.. bounds];
        // Which sets hold each range: each set's ranges swept over the starts they cover, so the work is what the sets
        // cover, not ranges times sets.
        var holders = new List<int>?[starts.Length];
        for (int k = 0; k < sets.Count; k++)
        {
            foreach ((int lo, int hi) in sets[k].Ranges)
            {
                for (int i = Array.BinarySearch(starts, lo); i < starts.Length && starts[i] <= hi; i++)
                {
                    (holders[i] ??= []).Add(k);
                }
            }
        }
        int[] classOf = new int[starts.Length];
        // A range's class: which of the sets hold it (ranges with the same ones are one class).
        var signatures = new Dictionary<string, int>();
        for (int i = 0; i < starts.Length; i++)
        {
            if (!CharSet.All.Contains(starts[i]))
            {
                classOf[i] = -1;
                continue;
            }
            string signature = holders[i] is List<int> held ? string.Join(',', held) : "";
            if (!signatures.TryGetValue(signature, out int id))
            {
                id = signatures.Count;
                signatures[signature] = id;
            }
            classOf[i] = id;
        }
        return new CharClasses(starts, classOf, signatures.Count);
    }

    /// <summary>The class of code point <paramref name="c"/>; −1 outside the universe.</summary>
    public int ClassOf(int c) => (uint)c < 128 ? _ascii[c] : (uint)c > CharSet.Max ? -1 : Search(c);

    private int Search(int c)
    {
        int i = Array.BinarySearch(_starts, c);
        return _classOf[i >= 0 ? i : ~i - 1];
    }

    /// <summary>The classes the set holds (it holds each whole or not at all), in order, each once.</summary>
    public int[] Members(CharSet set)
    {
        // The set's ranges swept over the starts they cover: the work is what the set covers.
        var members = new SortedSet<int>();
        foreach ((int lo, int hi) in set.Ranges)
        {
            int i = Array.BinarySearch(_starts, lo);
            for (i = i >= 0 ? i : ~i - 1; i < _starts.Length && _starts[i] <= hi; i++)
            {
                if (_classOf[i] >= 0)
                {
                    members.Add(_classOf[i]);
                }
            }
        }
        return [.. members];
    }

    /// <summary>Whether a character within <paramref name="lo"/> .. <paramref name="hi"/> has a transition in <paramref name="row"/> (a state's, by class; −1: none).</summary>
    public bool AnyWithin(int lo, int hi, ReadOnlySpan<int> row)
    {
        int i = Array.BinarySearch(_starts, lo);
        for (i = i >= 0 ? i : ~i - 1; i < _starts.Length && _starts[i] <= hi; i++)
        {
            if (_classOf[i] >= 0 && row[_classOf[i]] >= 0)
            {
                return true;
            }
        }
        return false;
    }
}
