using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Python's <c>str()</c> and <c>repr()</c> of template values, which Jinja2 (and so Python transformers, vLLM and
/// llama.cpp's minja) writes where a template prints a value: <c>True</c>, <c>None</c>, <c>1.0</c>,
/// <c>['c', 'f']</c>, <c>{'x': None}</c>. A model was trained on these prompts, so Copal writes them rather than the
/// reference's JavaScript text (<c>true</c>, <c>1</c>, <c>["c", "f"]</c>).
/// </summary>
internal static class PyText
{
    /// <summary>Python <c>str(value)</c>: what <c>{{ value }}</c>, <c>~</c>, <c>| string</c> and <c>join</c> write.</summary>
    public static string Str(Value v, Func<string> where) => v switch
    {
        StringValue s => s.Value,
        MarkupValue m => m.Text,
        // Jinja2's Undefined prints as nothing.
        UndefinedValue => "",
        LoopValue loop => throw loop.CannotWrite(where),
        ArrayValue or ObjectValue or NamespaceValue => Repr(v, where),
        _ => Scalar(v) ?? throw new ChatTemplateException($"chat template {where()}: cannot write {v.AKind} as text"),
    };

    /// <summary>Python <c>repr(value)</c>: how a value is written inside a list or mapping.</summary>
    public static string Repr(Value v, Func<string> where)
    {
        var sb = new StringBuilder();
        Repr(sb, v, 0, where);
        return sb.ToString();
    }

    private static string? Scalar(Value v) => v switch
    {
        NullValue => "None",
        BooleanValue b => b.Value ? "True" : "False",
        IntegerValue i => i.Value.ToString(CultureInfo.InvariantCulture),
        FloatValue f => Float(f.Value),
        _ => null,
    };

    private static void Repr(StringBuilder sb, Value v, int depth, Func<string> where)
    {
        switch (v)
        {
            case StringValue s:
                StringRepr(sb, s.Value);
                return;
            case UndefinedValue:
                sb.Append("Undefined");
                return;
            case MarkupValue m:
                // MarkupSafe's repr: Markup('&lt;').
                sb.Append("Markup(");
                StringRepr(sb, m.Text);
                sb.Append(')');
                return;
        }
        if (Scalar(v) is string scalar)
        {
            sb.Append(scalar);
            return;
        }
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            throw new ChatTemplateException($"chat template {where()}: the template nests too deeply for the stack to write {v.AKind} (macros recursing through deep expressions?)");
        }
        if (depth >= Json.MaxDepth)
        {
            throw new ChatTemplateException(FormattableString.Invariant($"chat template {where()}: {v.AKind} nested deeper than {Json.MaxDepth} levels cannot be written (a value nested in a loop?)"));
        }
        switch (v)
        {
            case ArrayValue a:
                sb.Append(a.IsTuple ? '(' : '[');
                for (int n = 0; n < a.Items.Count; n++)
                {
                    sb.Append(n > 0 ? ", " : "");
                    Repr(sb, a.Items[n], depth + 1, where);
                    Bound(sb, v, where);
                }
                // A one-item tuple is written (x,), as Python writes it.
                sb.Append(a.IsTuple ? (a.Items.Count == 1 ? ",)" : ")") : "]");
                return;
            case ObjectValue o:
                Mapping(sb, o.Map, depth, where);
                return;
            case NamespaceValue ns:
                // Jinja2's Namespace.__repr__.
                sb.Append("<Namespace ");
                Mapping(sb, ns.Map, depth, where);
                sb.Append('>');
                return;
            case LoopValue loop:
                throw loop.CannotWrite(where);
            default:
                throw new ChatTemplateException($"chat template {where()}: cannot write {v.AKind} as text");
        }
    }

    private static void Mapping(StringBuilder sb, OrderedDictionary<string, Value> map, int depth, Func<string> where)
    {
        sb.Append('{');
        bool first = true;
        foreach ((string key, Value value) in map)
        {
            sb.Append(first ? "" : ", ");
            first = false;
            StringRepr(sb, key);
            sb.Append(": ");
            Repr(sb, value, depth + 1, where);
            Bound(sb, value, where);
        }
        sb.Append('}');
    }

    /// <summary>The render's size budget, checked after each element as <see cref="Json"/> checks it.</summary>
    private static void Bound(StringBuilder sb, Value v, Func<string> where)
    {
        if (sb.Length > Interpreter.MaxLength)
        {
            throw new ChatTemplateException(FormattableString.Invariant($"chat template {where()}: the text of {v.AKind} grows past {Interpreter.MaxLength} characters"));
        }
    }

    /// <summary>Python <c>repr(str)</c>: single quotes unless the text holds a single quote and no double quote; escapes as Python writes them.</summary>
    public static void StringRepr(StringBuilder sb, string s)
    {
        char quote = s.Contains('\'', StringComparison.Ordinal) && !s.Contains('"', StringComparison.Ordinal) ? '"' : '\'';
        sb.Append(quote);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            switch (c)
            {
                case '\\': sb.Append("\\\\"); continue;
                case '\n': sb.Append("\\n"); continue;
                case '\r': sb.Append("\\r"); continue;
                case '\t': sb.Append("\\t"); continue;
            }
            if (c == quote)
            {
                sb.Append('\\').Append(c);
                continue;
            }
            int codePoint = c;
            int units = 1;
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                codePoint = char.ConvertToUtf32(c, s[i + 1]);
                units = 2;
            }
            if (IsPrintable(codePoint))
            {
                sb.Append(s, i, units);
            }
            else if (codePoint < 0x100)
            {
                sb.Append("\\x").Append(codePoint.ToString("x2", CultureInfo.InvariantCulture));
            }
            else if (codePoint < 0x10000)
            {
                sb.Append("\\u").Append(codePoint.ToString("x4", CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append("\\U").Append(codePoint.ToString("x8", CultureInfo.InvariantCulture));
            }
            i += units - 1;
        }
        sb.Append(quote);
    }

    /// <summary>Python's <c>str.isprintable</c> of one code point: not a control, format, surrogate, private-use, unassigned or separator character other than the space.</summary>
    private static bool IsPrintable(int codePoint)
    {
        if (codePoint == ' ')
        {
            return true;
        }
        if (codePoint is >= 0xD800 and <= 0xDFFF)
        {
            return false;
        }
        return CharUnicodeInfo.GetUnicodeCategory(codePoint) switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                or UnicodeCategory.OtherNotAssigned or UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator
                or UnicodeCategory.ParagraphSeparator => false,
            _ => true,
        };
    }

    /// <summary>Python <c>repr(float)</c> (and <c>str</c>): shortest round-trip digits, <c>.0</c> on a whole value, an exponent from 1e16 and below 1e-4 (<c>1e+16</c>, <c>1e-05</c>).</summary>
    public static string Float(double x) => FloatText(x, "nan", "inf");

    /// <summary>How Python's <c>json.dumps</c> writes a float: as <see cref="Float"/>, with <c>NaN</c> and <c>Infinity</c>.</summary>
    public static string JsonFloat(double x) => FloatText(x, "NaN", "Infinity");

    private static string FloatText(double x, string nan, string infinity)
    {
        if (double.IsNaN(x))
        {
            return nan;
        }
        if (double.IsInfinity(x))
        {
            return x > 0 ? infinity : "-" + infinity;
        }
        if (x == 0)
        {
            return double.IsNegative(x) ? "-0.0" : "0.0";
        }
        if (x < 0)
        {
            return "-" + FloatText(-x, nan, infinity);
        }
        (string digits, int n) = JsText.ShortestDigits(x);
        int k = digits.Length;
        if (n > 16 || n <= -4)
        {
            int e = n - 1;
            string mantissa = k == 1 ? digits : digits[..1] + "." + digits[1..];
            return mantissa + "e" + (e < 0 ? "-" : "+") + Math.Abs(e).ToString("00", CultureInfo.InvariantCulture);
        }
        if (n <= 0)
        {
            return "0." + new string('0', -n) + digits;
        }
        if (n >= k)
        {
            return digits + new string('0', n - k) + ".0";
        }
        return digits[..n] + "." + digits[n..];
    }
}
