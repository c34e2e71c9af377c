using System.Globalization;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Python's string methods that the reference lacks (<c>rsplit</c>, <c>center</c>), as Python defines them: lengths
/// count code points, and <c>rsplit()</c> without a separator splits at Python's whitespace (<c>str.isspace()</c>).
/// </summary>
internal static class PyStr
{
    private static ChatTemplateException Fail(Func<string> where, string what) => new($"chat template {where()}: {what}");

    /// <summary>
    /// Python's order of strings, by code point: negative, 0 or positive. Not <see cref="string.CompareOrdinal(string, string)"/>,
    /// whose UTF-16 order puts a character above U+FFFF (a surrogate pair) before U+E000..U+FFFF.
    /// </summary>
    public static int CompareByCodePoint(string x, string y)
    {
        StringRuneEnumerator a = x.EnumerateRunes(), b = y.EnumerateRunes();
        while (true)
        {
            bool moreA = a.MoveNext(), moreB = b.MoveNext();
            if (!moreA || !moreB)
            {
                return moreA.CompareTo(moreB);
            }
            if (a.Current != b.Current)
            {
                return a.Current.Value.CompareTo(b.Current.Value);
            }
        }
    }

    /// <summary>Python's <c>str.isspace()</c> of one character: bidirectional types WS, B and S and category Zs.</summary>
    public static bool IsSpace(char c) => c is (>= '\t' and <= '\r') or (>= '\x1c' and <= ' ') or '\x85'
        || (c > '\x85' && CharUnicodeInfo.GetUnicodeCategory(c) is UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator);

    /// <summary><c>s.rsplit(sep=None, maxsplit=-1)</c>, positional or by keyword.</summary>
    public static ArrayValue RSplit(string s, List<Value> args, Func<string> where)
    {
        (Value sep, Value max) = Arguments("rsplit", args, where, ("sep", NullValue.Instance), ("maxsplit", new IntegerValue(-1)));
        if (sep is not (StringValue or NullValue) || max is not IntegerValue maxSplit)
        {
            throw Fail(where, "rsplit() takes a string separator (or none) and an integer maxsplit");
        }
        long splits = maxSplit.Value < 0 ? long.MaxValue : maxSplit.Value;
        var parts = new List<string>();
        if (sep is StringValue { Value: var separator })
        {
            if (separator.Length == 0)
            {
                throw Fail(where, "rsplit() with an empty separator");
            }
            int end = s.Length;
            for (int at; splits > 0 && (at = s.AsSpan(0, end).LastIndexOf(separator, StringComparison.Ordinal)) >= 0; splits--)
            {
                parts.Add(s[(at + separator.Length)..end]);
                end = at;
            }
            parts.Add(s[..end]);
        }
        else
        {
            // CPython's rsplit_whitespace: words from the right; the rest, once the splits are spent, less the
            // whitespace at its end.
            int i = s.Length - 1;
            for (; splits > 0; splits--)
            {
                while (i >= 0 && IsSpace(s[i]))
                {
                    i--;
                }
                if (i < 0)
                {
                    break;
                }
                int last = i;
                while (i >= 0 && !IsSpace(s[i]))
                {
                    i--;
                }
                parts.Add(s[(i + 1)..(last + 1)]);
            }
            while (i >= 0 && IsSpace(s[i]))
            {
                i--;
            }
            if (i >= 0)
            {
                parts.Add(s[..(i + 1)]);
            }
        }
        parts.Reverse();
        return new ArrayValue(parts.Select(p => (Value)new StringValue(p)).ToList());
    }

    /// <summary><c>s.center(width, fillchar=' ')</c> as a method, which takes no keyword arguments in Python.</summary>
    public static StringValue CenterMethod(string s, List<Value> args, Func<string> where)
    {
        if (args is [.., ObjectValue { IsKeywordArguments: true }])
        {
            throw Fail(where, "center() takes no keyword arguments");
        }
        (Value width, Value fill) = Arguments("center", args, where, ("width", UndefinedValue.Instance), ("fillchar", new StringValue(" ")));
        if (width is UndefinedValue)
        {
            throw Fail(where, "center() needs a width");
        }
        return fill is StringValue f && Builtins.CodePoints(f.Value) is [string one] ? Center(s, width, where, one)
            : throw Fail(where, "the fill character of center() must be one character");
    }

    // Python's str methods that take their arguments by position only refuse keywords (TypeError).
    private static void NoKeywords(string method, List<Value> args, Func<string> where)
    {
        if (args is [.., ObjectValue { IsKeywordArguments: true }])
        {
            throw Fail(where, $"{method}() takes no keyword arguments");
        }
    }

    /// <summary>Python's <c>s.removeprefix(prefix)</c> or <c>s.removesuffix(suffix)</c>: one string, by position only.</summary>
    public static StringValue RemoveAffix(string s, List<Value> args, Func<string> where, bool prefix)
    {
        string name = prefix ? "removeprefix" : "removesuffix";
        NoKeywords(name, args, where);
        if (args is not [StringValue affix])
        {
            throw Fail(where, $"{name}() takes one string by position, got {(args.Count == 1 ? args[0].AKind : FormattableString.Invariant($"{args.Count} arguments"))}");
        }
        return prefix ? new StringValue(s.StartsWith(affix.Value, StringComparison.Ordinal) ? s[affix.Value.Length..] : s)
            : new StringValue(s.EndsWith(affix.Value, StringComparison.Ordinal) ? s[..^affix.Value.Length] : s);
    }

    /// <summary>
    /// Python's <c>s.zfill(width)</c>: zeros on the left to <c>width</c> code points, after a leading sign. A width past
    /// the render's budget is refused (Python would build it).
    /// </summary>
    public static StringValue ZFill(string s, List<Value> args, Func<string> where)
    {
        NoKeywords("zfill", args, where);
        long width = args is [IntegerValue or BooleanValue]
            ? (long)Values.ToDouble(args[0])
            : throw Fail(where, $"zfill() takes one integer by position, got {(args.Count == 1 ? args[0].AKind : FormattableString.Invariant($"{args.Count} arguments"))}");
        long fill = width - Builtins.CodePoints(s).Count;
        if (fill <= 0)
        {
            return new StringValue(s);
        }
        if (width > Interpreter.MaxLength)
        {
            throw Fail(where, FormattableString.Invariant($"zfill({width}) would make a string past {Interpreter.MaxLength} characters"));
        }
        string zeros = new('0', (int)fill);
        return new StringValue(s.Length > 0 && s[0] is '+' or '-' ? s[0] + zeros + s[1..] : zeros + s);
    }

    /// <summary>
    /// Python's <c>s.center(width)</c>: spaces (or the fill character) on both sides to <paramref name="width"/> code points, the odd one on the
    /// right, or on the left when the width is odd too (CPython's <c>marg / 2 + (marg &amp; width &amp; 1)</c>).
    /// </summary>
    public static StringValue Center(string s, Value width, Func<string> where, string fill = " ")
    {
        long w = width switch
        {
            IntegerValue i => i.Value,
            BooleanValue b => b.Value ? 1 : 0,
            _ => throw Fail(where, $"center takes width (an integer), got {width.AKind}"),
        };
        long margin = w - Builtins.CodePoints(s).Count;
        if (margin <= 0)
        {
            return new StringValue(s);
        }
        if (s.Length + (margin * fill.Length) > Interpreter.MaxLength)
        {
            throw Fail(where, FormattableString.Invariant($"center({w}) would make a string past {Interpreter.MaxLength} characters"));
        }
        long left = (margin / 2) + (margin & w & 1);
        return new StringValue(string.Concat(Enumerable.Repeat(fill, (int)left)) + s + string.Concat(Enumerable.Repeat(fill, (int)(margin - left))));
    }

    // Positional arguments, then those given by keyword (the last argument, a keyword-arguments mapping), by name.
    private static (Value First, Value Second) Arguments(string method, List<Value> args, Func<string> where, (string Name, Value Default) first, (string Name, Value Default) second)
    {
        List<Value> positional = args;
        OrderedDictionary<string, Value>? keywords = null;
        if (args is [.., ObjectValue { IsKeywordArguments: true } kw])
        {
            positional = args[..^1];
            keywords = kw.Map;
        }
        if (positional.Count > 2 || keywords?.Keys.Any(k => k != first.Name && k != second.Name) == true)
        {
            throw Fail(where, $"{method}() takes {first.Name} and {second.Name}");
        }
        Value Pick(int index, (string Name, Value Default) p) =>
            positional.Count > index ? (keywords?.ContainsKey(p.Name) == true ? throw Fail(where, $"{method}() got {p.Name} twice") : positional[index])
            : keywords?.GetValueOrDefault(p.Name) ?? p.Default;
        return (Pick(0, first), Pick(1, second));
    }
}
