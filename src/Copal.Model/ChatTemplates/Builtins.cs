using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Methods on strings (<c>s.strip()</c>, <c>s.split(...)</c>...) and mappings (<c>d.items()</c>, <c>d.get(...)</c>...),
/// the global functions, and helpers the filters share; with the reference's behaviour, including where it departs
/// from Python (<c>strip()</c>, <c>lstrip()</c> and <c>rstrip()</c> remove JavaScript's whitespace), except where it
/// writes a different prompt than Python for real templates (<c>strip(chars)</c>).
/// </summary>
internal static class Builtins
{
    /// <summary>The most numbers range() may produce: Jinja2's sandbox MAX_RANGE, past which Python raises OverflowError.</summary>
    internal const long MaxRange = 100_000;

    private static ChatTemplateException Fail(Func<string> where, string what) => new($"chat template {where()}: {what}");

    public static Value? StringMethod(StringValue str, string name)
    {
        string s = str.Value;
        return name switch
        {
            "upper" => Fn(name, (_, _) => new StringValue(JsCase.Upper(s))),
            "lower" => Fn(name, (_, _) => new StringValue(JsCase.Lower(s))),
            "strip" => Fn(name, (args, p) => Strip(s, args, p, name, start: true, end: true)),
            "lstrip" => Fn(name, (args, p) => Strip(s, args, p, name, start: true, end: false)),
            "rstrip" => Fn(name, (args, p) => Strip(s, args, p, name, start: false, end: true)),
            "title" => Fn(name, (_, _) => new StringValue(Title(s))),
            "capitalize" => Fn(name, (_, _) => new StringValue(s.Length == 0 ? s : JsCase.Upper(s[..1]) + s[1..])),
            "length" => new IntegerValue(s.Length),
            "startswith" => Fn(name, (args, p) => BooleanValue.Of(Affix(s, args, p, name, (a, b) => a.StartsWith(b, StringComparison.Ordinal)))),
            "endswith" => Fn(name, (args, p) => BooleanValue.Of(Affix(s, args, p, name, (a, b) => a.EndsWith(b, StringComparison.Ordinal)))),
            "split" => Fn(name, (args, p) => Split(s, args, p)),
            "rsplit" => Fn(name, (args, p) => PyStr.RSplit(s, args, p)),
            "center" => Fn(name, (args, p) => PyStr.CenterMethod(s, args, p)),
            "replace" => Fn(name, (args, p) => Replace(s, args, p)),
            "removeprefix" or "removesuffix" => Fn(name, (args, p) => PyStr.RemoveAffix(s, args, p, prefix: name == "removeprefix")),
            "zfill" => Fn(name, (args, p) => PyStr.ZFill(s, args, p)),
            "format" => Fn(name, (args, p) => PyStrFormat.Format(s, args, p)),
            _ => null,
        };
    }

    public static Value? ObjectMethod(ObjectValue obj, string name) => name switch
    {
        "get" => Fn(name, (args, p) =>
        {
            if (args.Count == 0 || args[0] is not StringValue key)
            {
                throw Fail(p, $"get() needs a string key, got {(args.Count == 0 ? "nothing" : args[0].AKind)}");
            }
            return obj.Map.TryGetValue(key.Value, out Value? v) ? v : args.Count > 1 ? args[1] : NullValue.Instance;
        }),
        "items" => Fn(name, (_, _) => Items(obj)),
        "keys" => Fn(name, (_, _) => new ArrayValue(obj.Map.Keys.Select(k => (Value)new StringValue(k)).ToList())),
        "values" => Fn(name, (_, _) => new ArrayValue([.. obj.Map.Values])),
        "dictsort" => Fn(name, (args, p) => Dictsort.Apply(obj, args, p)),
        _ => null,
    };

    private static FunctionValue Fn(string name, Func<List<Value>, Func<string>, Value> body) => new(name, (args, _, where) => body(args, where));

    /// <summary>The (key, value) pairs as tuples, as Python's <c>items()</c> gives them (printed <c>('a', 1)</c>; JSON writes them as lists).</summary>
    public static ArrayValue Items(ObjectValue obj) =>
        new(obj.Map.Select(kv => (Value)new ArrayValue([new StringValue(kv.Key), kv.Value], isTuple: true)).ToList());

    private static bool Affix(string s, List<Value> args, Func<string> where, string name, Func<string, string, bool> test)
    {
        if (args.Count == 0)
        {
            throw Fail(where, $"{name}() needs an argument");
        }
        return args[0] switch
        {
            StringValue p => test(s, p.Value),
            ArrayValue a => a.Items.Any(x => x is StringValue p ? test(s, p.Value) : throw Fail(where, $"{name}() takes strings")),
            _ => throw Fail(where, $"{name}() takes a string or a tuple of strings, got {args[0].AKind}"),
        };
    }

    // strip(), lstrip(), rstrip(): without an argument (or none) the reference's whitespace. With one, the characters
    // of that string, as Python strips them: the reference ignored it, so Qwen3's and QwQ's
    // content.split('</think>')[-1].lstrip('\n') dropped the indentation of an answer that begins with code.
    private static StringValue Strip(string s, List<Value> args, Func<string> where, string name, bool start, bool end)
    {
        if (args.Count > 1)
        {
            throw Fail(where, $"{name}() takes at most one argument, got {args.Count}");
        }
        Value chars = args.Count == 0 ? NullValue.Instance : args[0];
        switch (chars)
        {
            // Undefined is refused, as Python's str.strip refuses Jinja2's Undefined (the reference took it as none).
            case NullValue:
                return new StringValue(start && end ? JsText.Trim(s) : start ? JsText.TrimStart(s) : JsText.TrimEnd(s));
            case StringValue set:
            {
                // By code point (a surrogate pair is one character, as in Python), without decoding: a lone
                // surrogate is kept as it is.
                var strip = new HashSet<string>(StringComparer.Ordinal);
                for (int i = 0; i < set.Value.Length; i += CodePointLength(set.Value, i))
                {
                    strip.Add(set.Value.Substring(i, CodePointLength(set.Value, i)));
                }
                int first = 0, last = s.Length;
                while (start && first < last && strip.Contains(s.Substring(first, CodePointLength(s, first))))
                {
                    first += CodePointLength(s, first);
                }
                while (end && last > first)
                {
                    int n = last - first >= 2 && char.IsSurrogatePair(s[last - 2], s[last - 1]) ? 2 : 1;
                    if (!strip.Contains(s.Substring(last - n, n)))
                    {
                        break;
                    }
                    last -= n;
                }
                return new StringValue(s[first..last]);
            }
            default:
                throw Fail(where, $"{name}() takes a string of characters to remove or none, got {(chars is UndefinedValue ? "an undefined value" : chars.AKind)}");
        }
    }

    private static int CodePointLength(string s, int i) => char.IsSurrogatePair(s, i) ? 2 : 1;

    private static ArrayValue Split(string s, List<Value> args, Func<string> where)
    {
        Value sep = args.Count > 0 ? args[0] : NullValue.Instance;
        Value max = args.Count > 1 ? args[1] : new IntegerValue(-1);
        if (sep is not (StringValue or NullValue) || max is not IntegerValue maxSplit)
        {
            throw Fail(where, "split() takes a string separator (or none) and an integer maxsplit");
        }
        var result = new List<string>();
        if (sep is StringValue separator)
        {
            if (separator.Value.Length == 0)
            {
                throw Fail(where, "split() with an empty separator");
            }
            result.AddRange(s.Split(separator.Value));
            if (maxSplit.Value != -1 && result.Count > maxSplit.Value)
            {
                int keep = (int)Math.Max(0, maxSplit.Value);
                string rest = string.Join(separator.Value, result.Skip(keep));
                result.RemoveRange(keep, result.Count - keep);
                result.Add(rest);
            }
        }
        else
        {
            string text = JsText.TrimStart(s);
            int i = 0;
            while (i < text.Length)
            {
                while (i < text.Length && JsText.IsWhitespace(text[i]))
                {
                    i++;
                }
                if (i >= text.Length)
                {
                    break;
                }
                int start = i;
                while (i < text.Length && !JsText.IsWhitespace(text[i]))
                {
                    i++;
                }
                if (maxSplit.Value != -1 && result.Count >= maxSplit.Value)
                {
                    result.Add(text[start..]);
                    break;
                }
                result.Add(text[start..i]);
            }
        }
        return new ArrayValue(result.Select(x => (Value)new StringValue(x)).ToList());
    }

    private static StringValue Replace(string s, List<Value> args, Func<string> where)
    {
        if (args.Count < 2 || args[0] is not StringValue oldValue || args[1] is not StringValue newValue)
        {
            throw Fail(where, "replace() needs two strings");
        }
        Value count = NullValue.Instance;
        if (args.Count > 2)
        {
            count = args[2] is ObjectValue { IsKeywordArguments: true } kw
                ? kw.Map.GetValueOrDefault("count", NullValue.Instance) : args[2];
        }
        if (count is not (IntegerValue or NullValue))
        {
            throw Fail(where, "the count of replace() must be an integer");
        }
        long remaining = count is IntegerValue c ? (c.Value < 0 ? long.MaxValue : c.Value) : long.MaxValue;
        if (remaining == 0)
        {
            return new StringValue(s);
        }
        var sb = new StringBuilder();
        string old = oldValue.Value;
        if (old.Length == 0)
        {
            // A Unicode-aware empty match: at every code point boundary, never inside a surrogate pair.
            for (int i = 0; i <= s.Length; i++)
            {
                bool insidePair = i > 0 && i < s.Length && char.IsHighSurrogate(s[i - 1]) && char.IsLowSurrogate(s[i]);
                if (!insidePair && remaining > 0)
                {
                    sb.Append(newValue.Value);
                    remaining--;
                    Bound(sb, where);
                }
                if (i < s.Length)
                {
                    sb.Append(s[i]);
                }
            }
            return new StringValue(sb.ToString());
        }
        int at = 0;
        while (at < s.Length)
        {
            int found = s.IndexOf(old, at, StringComparison.Ordinal);
            if (found < 0 || remaining == 0)
            {
                break;
            }
            bool splitsPair = (found > 0 && char.IsLowSurrogate(s[found]) && char.IsHighSurrogate(s[found - 1]))
                || (found + old.Length < s.Length && char.IsHighSurrogate(s[found + old.Length - 1]) && char.IsLowSurrogate(s[found + old.Length]));
            if (splitsPair)
            {
                sb.Append(s, at, found - at + 1);
                at = found + 1;
                continue;
            }
            sb.Append(s, at, found - at).Append(newValue.Value);
            at = found + old.Length;
            remaining--;
            Bound(sb, where);
        }
        sb.Append(s, at, s.Length - at);
        return new StringValue(sb.ToString());
    }

    /// <summary>replace()'s result within the render's size budget (<see cref="Interpreter.MaxLength"/>), checked as it grows.</summary>
    private static void Bound(StringBuilder sb, Func<string> where)
    {
        if (sb.Length > Interpreter.MaxLength)
        {
            throw Fail(where, FormattableString.Invariant($"replace() grows a string past {Interpreter.MaxLength} characters"));
        }
    }

    /// <summary>The reference's <c>title</c>: /\b\w/g upper-cased (ASCII word characters; the rest of a word is kept).</summary>
    private static string Title(string s)
    {
        var sb = new StringBuilder(s);
        for (int i = 0; i < sb.Length; i++)
        {
            bool word = IsWord(sb[i]);
            bool boundary = i == 0 || !IsWord(s[i - 1]);
            if (word && boundary)
            {
                sb[i] = char.ToUpperInvariant(sb[i]);
            }
        }
        return sb.ToString();

        static bool IsWord(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
    }

    public static string Indent(string s, string pad, bool first, bool blank)
    {
        string[] lines = s.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (!((!first && i == 0) || (!blank && lines[i].Length == 0)))
            {
                lines[i] = pad + lines[i];
            }
        }
        return string.Join('\n', lines);
    }

    public static List<string> CodePoints(string s)
    {
        var list = new List<string>();
        for (int i = 0; i < s.Length; i++)
        {
            int n = char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]) ? 2 : 1;
            list.Add(s.Substring(i, n));
            i += n - 1;
        }
        return list;
    }

    /// <summary>Dotted attribute path (<c>"a.b"</c>, <c>"items.0"</c>) into mappings, lists and strings; undefined where missing.</summary>
    public static Value AttributePath(Value item, string path)
    {
        Value v = item;
        foreach (string part in path.Split('.'))
        {
            switch (v)
            {
                // A part of digits is the integer Jinja2 looks up, which no mapping of string keys holds ('0' of {'0': 1}).
                case ObjectValue o:
                    v = Index(part) is null ? o.Map.GetValueOrDefault(part, UndefinedValue.Instance) : UndefinedValue.Instance;
                    break;
                case NamespaceValue ns:
                    v = ns.Map.GetValueOrDefault(part, UndefinedValue.Instance);
                    break;
                // Jinja2 reads a part that is all digits as an index (a list's item, a string's character, a code
                // point), any other as a name, which neither has ('1a' and ' 1' too, which JavaScript's parseInt read as 1).
                case ArrayValue a when Index(part) is int at:
                    if (at < a.Items.Count)
                    {
                        v = a.Items[at];
                        break;
                    }
                    return UndefinedValue.Instance;
                case StringValue s when Index(part) is int at:
                {
                    List<string> characters = CodePoints(s.Value);
                    if (at < characters.Count)
                    {
                        v = new StringValue(characters[at]);
                        break;
                    }
                    return UndefinedValue.Instance;
                }
                default:
                    return UndefinedValue.Instance;
            }
        }
        return v;
    }

    private static int? Index(string part) => part.Length > 0 && part.All(char.IsAsciiDigit)
        ? (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int at) ? at : int.MaxValue)
        : null;

    /// <summary>
    /// A stable sort by Python's order (<see cref="PyOrder"/>) of each item's key, strings case-folded unless asked.
    /// <paramref name="keysAreWrapped"/> for Jinja2's <c>sort</c>, whose attribute getter wraps each key in a list, so
    /// equal keys (none with none too) are never ordered; <c>dictsort</c>'s keys are compared by &lt; alone, which
    /// refuses none with none, as Python does.
    /// </summary>
    public static List<Value> StableSort(List<Value> items, Func<Value, Value> key, bool caseSensitive, bool reverse, bool keysAreWrapped, Func<string> where)
    {
        ChatTemplateException Refuse(Value a, Value b) => Fail(where, $"cannot sort {a.AKind} against {b.AKind}");
        // Each key once, as Python's sorted() takes them.
        // A Markup's key is its text (Markup.lower lowers it as a str; it orders as a str).
        List<Value> keys = items.Select(key).Select(MarkupValue.Unwrap).Select(k => k is StringValue s && !caseSensitive ? new StringValue(JsCase.Lower(s.Value)) : k).ToList();
        if (keys.Count > 1 && keys.Any(HoldsNaN))
        {
            // nan is neither less nor greater than anything, so the order Python gives it is what its own sort
            // algorithm happens to compare ([3, nan, 1] stays as it is), which another algorithm does not repeat.
            throw Fail(where, "sorting a nan key is not supported (Python's order of it depends on its sort algorithm)");
        }
        int Compare(int a, int b)
        {
            int r = keysAreWrapped ? PyOrder.SortOrder(keys[a], keys[b], where, Refuse) : PyOrder.Direct(keys[a], keys[b], where, Refuse);
            return reverse ? -r : r;
        }
        var order = Enumerable.Range(0, items.Count).ToList();
        try
        {
            order.Sort((x, y) =>
            {
                int c = Compare(x, y);
                return c != 0 ? c : x.CompareTo(y);
            });
        }
        catch (InvalidOperationException e) when (e.InnerException is ChatTemplateException refusal)
        {
            // List.Sort wraps what its comparison throws; the refusal itself names the values and the position.
            ExceptionDispatchInfo.Throw(refusal);
        }
        return order.Select(i => items[i]).ToList();
    }

    // Whether a value is nan or a list or tuple holds one at any depth (walked without recursion: lists nest deep).
    private static bool HoldsNaN(Value value)
    {
        var pending = new Stack<Value>([value]);
        while (pending.TryPop(out Value? v))
        {
            if (v is FloatValue f && double.IsNaN(f.Value))
            {
                return true;
            }
            if (v is ArrayValue list)
            {
                list.Items.ForEach(pending.Push);
            }
        }
        return false;
    }

    /// <summary>
    /// Jinja2's <c>unique</c>: the first item of each key a Python set tells apart, the key being the item or its
    /// <paramref name="attribute"/>, a string lowered unless <paramref name="caseSensitive"/>: 1, true and 1.0 are one
    /// key, 'A' and 'a' one unless case-sensitive. A list or mapping key is refused, as Python refuses to hash it (the
    /// reference compared as JavaScript's ===: 1 and true, 'A' and 'a' apart, equal lists apart).
    /// </summary>
    public static List<Value> Unique(List<Value> items, bool caseSensitive, string? attribute, Func<string> where)
    {
        var output = new List<Value>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (Value item in items)
        {
            // A Markup hashes and compares as its text.
            Value key = MarkupValue.Unwrap(attribute is null ? item : AttributePath(item, attribute));
            if (!caseSensitive && key is StringValue text)
            {
                key = new StringValue(JsCase.Lower(text.Value));
            }
            if (seen.Add(HashKey(key, where)))
            {
                output.Add(item);
            }
        }
        return output;
    }

    // One text per value Python's == joins among those it hashes: numbers and booleans by value (0 and -0.0 one),
    // strings by text (their length first, so that a tuple's keys cannot run together), tuples by their items.
    private static string HashKey(Value key, Func<string> where) => key switch
    {
        NullValue => "None",
        UndefinedValue => "Undefined",
        StringValue s => FormattableString.Invariant($"s{s.Value.Length}:{s.Value}"),
        IntegerValue or FloatValue or BooleanValue => Values.ToDouble(key) is var d && d == 0 ? "n0" : "n" + d.ToString("R", CultureInfo.InvariantCulture),
        ArrayValue { IsTuple: true } t => FormattableString.Invariant($"t{t.Items.Count}(") + string.Concat(t.Items.Select(x => HashKey(x, where) + ",")) + ")",
        _ => throw Fail(where, $"unique() of a list: {key.AKind} cannot be compared so{(key is ArrayValue or ObjectValue ? " (Python: unhashable)" : "")}"),
    };

    /// <summary>The names every template sees: true/false/none (also capitalized), raise_exception, range, namespace, strftime_now.</summary>
    private static readonly Lazy<Scope> s_globals = new(() =>
    {
        var scope = new Scope(null);
        DeclareGlobals(scope);
        return scope;
    });

    /// <summary>Whether <paramref name="name"/> is a built-in global (range, namespace, raise_exception, true...), which no render variable may replace.</summary>
    public static bool IsGlobal(string name) => s_globals.Value.Lookup(name) is not UndefinedValue;

    public static void DeclareGlobals(Scope scope)
    {
        scope.Declare("false", BooleanValue.False);
        scope.Declare("true", BooleanValue.True);
        scope.Declare("none", NullValue.Instance);
        scope.Declare("raise_exception", new FunctionValue("raise_exception", (args, _, where) =>
        {
            string message = args.Count > 0 && args[0] is StringValue s ? s.Value
                : args.Count > 0 ? Values.Render(args[0], () => "") : "undefined";
            throw new ChatTemplateRaisedException(message, where());
        }));
        scope.Declare("range", new FunctionValue("range", (args, _, where) =>
        {
            if (args.Count is < 1 or > 3 || args.Any(a => a is not IntegerValue))
            {
                throw Fail(where, "range() takes 1 to 3 integers");
            }
            long[] n = args.Select(a => ((IntegerValue)a).Value).ToArray();
            (long start, long stop, long step) = n.Length == 1 ? (0, n[0], 1) : (n[0], n[1], n.Length > 2 ? n[2] : 1);
            if (step == 0)
            {
                throw Fail(where, "range() step must not be zero");
            }
            long count = step > 0 ? (stop - start + step - 1) / step : (start - stop - step - 1) / -step;
            if (count > MaxRange)
            {
                throw Fail(where, $"range() of {count} numbers is more than the {MaxRange} allowed");
            }
            var list = new List<Value>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step)
            {
                list.Add(new IntegerValue(i));
            }
            return new ArrayValue(list);
        }));
        scope.Declare("strftime_now", new FunctionValue("strftime_now", (args, _, where) =>
        {
            if (args.Count < 1 || args[0] is not StringValue format)
            {
                throw Fail(where, "strftime_now() needs a format string");
            }
            return new StringValue(Strftime(DateTime.Now, format.Value));
        }));
        scope.Declare("True", BooleanValue.True);
        scope.Declare("False", BooleanValue.False);
        scope.Declare("None", NullValue.Instance);
        scope.Declare("namespace", new FunctionValue("namespace", (args, _, where) =>
        {
            List<Value> positional = args;
            ObjectValue? kwargs = null;
            if (positional.Count > 0 && positional[^1] is ObjectValue { IsKeywordArguments: true } kw)
            {
                kwargs = kw;
                positional = positional[..^1];
            }
            if (positional.Count > 1)
            {
                throw Fail(where, $"namespace() takes at most 1 positional argument, got {positional.Count}");
            }
            var entries = new OrderedDictionary<string, Value>(StringComparer.Ordinal);
            if (positional.Count == 1)
            {
                switch (positional[0])
                {
                    case ObjectValue source:
                        foreach ((string k, Value v) in source.Map)
                        {
                            entries[k] = v;
                        }
                        break;
                    case ArrayValue pairs:
                        foreach (Value pair in pairs.Items)
                        {
                            if (pair is not ArrayValue { Items: [StringValue key, Value value] })
                            {
                                throw Fail(where, "namespace() takes a mapping or a list of [key, value] pairs");
                            }
                            entries[key.Value] = value;
                        }
                        break;
                    default:
                        throw Fail(where, $"namespace() cannot take {positional[0].AKind}");
                }
            }
            if (kwargs is not null)
            {
                foreach ((string k, Value v) in kwargs.Map)
                {
                    entries[k] = v;
                }
            }
            return new NamespaceValue(entries);
        }));
    }

    /// <summary>The reference's strftime subset: %Y %m %d %b %B %H %M %% (English month names); other directives stay as written.</summary>
    internal static string Strftime(DateTime date, string format)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] == '%' && i + 1 < format.Length && "YmdbBHM%".Contains(format[i + 1], StringComparison.Ordinal))
            {
                char d = format[++i];
                sb.Append(d switch
                {
                    'Y' => date.Year.ToString(CultureInfo.InvariantCulture),
                    'm' => date.Month.ToString("00", CultureInfo.InvariantCulture),
                    'd' => date.Day.ToString("00", CultureInfo.InvariantCulture),
                    'b' => CultureInfo.InvariantCulture.DateTimeFormat.GetAbbreviatedMonthName(date.Month),
                    'B' => CultureInfo.InvariantCulture.DateTimeFormat.GetMonthName(date.Month),
                    'H' => date.Hour.ToString("00", CultureInfo.InvariantCulture),
                    'M' => date.Minute.ToString("00", CultureInfo.InvariantCulture),
                    _ => "%",
                });
            }
            else
            {
                sb.Append(format[i]);
            }
        }
        return sb.ToString();
    }
}
