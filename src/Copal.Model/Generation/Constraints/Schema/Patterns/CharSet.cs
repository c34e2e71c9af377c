using System.Globalization;

namespace Copal.Model.Generation.Constraints.Schema.Patterns;

/// <summary>
/// A set of characters a pattern may match, as sorted disjoint ranges of code points. Its universe is the Basic
/// Multilingual Plane but the surrogates (<see cref="All"/>): there a code point is one UTF-16 unit, so a pattern
/// means the same to an engine that counts code points (Python, Rust) and one that counts UTF-16 units (.NET,
/// ECMAScript without the u flag). Immutable.
/// </summary>
internal sealed class CharSet
{
    /// <summary>The last code point of the universe.</summary>
    public const int Max = 0xFFFF;

    private const int SurrogateFirst = 0xD800, SurrogateLast = 0xDFFF;

    private CharSet((int Lo, int Hi)[] ranges)
    {
        Ranges = ranges;
    }

    /// <summary>Sorted, disjoint, not touching, within the universe.</summary>
    public (int Lo, int Hi)[] Ranges { get; }

    public static readonly CharSet Empty = new([]);

    /// <summary>Every character a pattern may match: U+0000–U+FFFF but the surrogates.</summary>
    public static readonly CharSet All = new([(0, SurrogateFirst - 1), (SurrogateLast + 1, Max)]);

    public bool IsEmpty => Ranges.Length == 0;

    public static CharSet Single(int c) => Of([(c, c)]);

    /// <summary>The set of the given ranges (in any order, overlapping or not), cut to the universe.</summary>
    public static CharSet Of(IEnumerable<(int Lo, int Hi)> ranges)
    {
        var sorted = ranges.Where(r => r.Lo <= r.Hi).OrderBy(r => r.Lo).ToList();
        var merged = new List<(int Lo, int Hi)>();
        foreach ((int lo, int hi) in sorted)
        {
            if (merged.Count > 0 && lo <= merged[^1].Hi + 1)
            {
                merged[^1] = (merged[^1].Lo, Math.Max(merged[^1].Hi, hi));
            }
            else
            {
                merged.Add((lo, hi));
            }
        }
        return new CharSet([.. Intersect(merged, All.Ranges)]);
    }

    public CharSet Union(CharSet other) => Of(Ranges.Concat(other.Ranges));

    /// <summary>The characters of the universe not in this set.</summary>
    public CharSet Complement()
    {
        var gaps = new List<(int Lo, int Hi)>();
        int next = 0;
        foreach ((int lo, int hi) in Ranges)
        {
            if (lo > next)
            {
                gaps.Add((next, lo - 1));
            }
            next = hi + 1;
        }
        if (next <= Max)
        {
            gaps.Add((next, Max));
        }
        return Of(gaps);
    }

    public bool Contains(int c)
    {
        int lo = 0, hi = Ranges.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            if (c < Ranges[mid].Lo)
            {
                hi = mid - 1;
            }
            else if (c > Ranges[mid].Hi)
            {
                lo = mid + 1;
            }
            else
            {
                return true;
            }
        }
        return false;
    }

    private static IEnumerable<(int Lo, int Hi)> Intersect(List<(int Lo, int Hi)> a, (int Lo, int Hi)[] b)
    {
        int i = 0, j = 0;
        while (i < a.Count && j < b.Length)
        {
            int lo = Math.Max(a[i].Lo, b[j].Lo), hi = Math.Min(a[i].Hi, b[j].Hi);
            if (lo <= hi)
            {
                yield return (lo, hi);
            }
            if (a[i].Hi < b[j].Hi)
            {
                i++;
            }
            else
            {
                j++;
            }
        }
    }

    /// <summary>
    /// The characters of a category in every engine's reading (Min) and in any engine's (Max). A pattern is held to
    /// Min where it asks for the category and to the complement of Max where it asks for its complement, so a string
    /// written matches under ECMAScript, .NET, Python and Rust alike, whichever Unicode version each knows.
    /// </summary>
    public readonly record struct Reading(CharSet Min, CharSet Max)
    {
        public static Reading Exactly(CharSet set) => new(set, set);

        /// <summary>The complement: what every engine leaves out is what no engine's category takes.</summary>
        public Reading Not() => new(Max.Complement(), Min.Complement());

        public Reading Union(Reading other) => new(Min.Union(other.Min), Max.Union(other.Max));
    }

    /// <summary>\d: ASCII digits in ECMAScript; any decimal digit in .NET, Python and Rust.</summary>
    public static readonly Reading Digits = new(Of([('0', '9')]), Of([('0', '9')]).Union(Categories(UnicodeCategory.DecimalDigitNumber)));

    /// <summary>\w: ASCII letters, digits and _ in ECMAScript; letters, marks, numbers, connectors and the joiners elsewhere (Rust adds the circled letters).</summary>
    public static readonly Reading Word = new(
        Of([('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')]),
        Of([('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_'), (0x200C, 0x200D), (0x24B6, 0x24E9)]).Union(Categories(
            UnicodeCategory.UppercaseLetter, UnicodeCategory.LowercaseLetter, UnicodeCategory.TitlecaseLetter, UnicodeCategory.ModifierLetter,
            UnicodeCategory.OtherLetter, UnicodeCategory.NonSpacingMark, UnicodeCategory.SpacingCombiningMark, UnicodeCategory.EnclosingMark,
            UnicodeCategory.DecimalDigitNumber, UnicodeCategory.LetterNumber, UnicodeCategory.OtherNumber, UnicodeCategory.ConnectorPunctuation)));

    /// <summary>\s: the ASCII whitespace all agree on; any engine's adds the Unicode spaces, NEL, the BOM and Python's separators.</summary>
    public static readonly Reading Space = new(
        Of([('\t', '\r'), (' ', ' ')]),
        Of([('\t', '\r'), (0x1C, ' '), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x180E, 0x180E), (0x2000, 0x200A), (0x2028, 0x2029),
            (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF)]).Union(Categories(UnicodeCategory.SpaceSeparator)));

    /// <summary>The dot: any character but a line terminator (ECMAScript's four; .NET, Python and Rust leave out only \n).</summary>
    public static readonly Reading Dot = new(
        Of([('\n', '\n'), ('\r', '\r'), (0x2028, 0x2029)]).Complement(),
        Single('\n').Complement());

    // The characters of the categories, and those this runtime knows as unassigned (another engine's newer Unicode
    // may have assigned them to the category).
    private static CharSet Categories(params UnicodeCategory[] categories)
    {
        var ranges = new List<(int Lo, int Hi)>();
        for (int c = 0; c <= Max; c++)
        {
            UnicodeCategory category = CharUnicodeInfo.GetUnicodeCategory(c);
            if (category == UnicodeCategory.OtherNotAssigned || categories.Contains(category))
            {
                ranges.Add((c, c));
            }
        }
        return Of(ranges);
    }
}
