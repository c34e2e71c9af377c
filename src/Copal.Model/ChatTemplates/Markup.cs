using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// MarkupSafe's <c>Markup</c>, which Jinja2's <c>escape</c> (<c>e</c>) and <c>safe</c> filters return in the sandbox
/// transformers uses (autoescape off): text that is already HTML. It prints as its text, compares and hashes as its
/// text, and is a string to the tests, but it is not a plain string: adding a plain string to it escapes that string
/// (<c>('a'|safe) + '&lt;'</c> is <c>a&amp;lt;</c>), escaping it again leaves it as it is, and inside a list it is written
/// <c>Markup('...')</c>. A kind of its own, so every operation that does not handle it explicitly refuses it rather
/// than treating it as a plain string (Python's Markup methods escape their arguments, which is not modelled).
/// </summary>
internal sealed class MarkupValue(string text) : Value
{
    public string Text { get; } = text;
    public override string Kind => "markup";
    public override bool IsTrue => Text.Length > 0;

    /// <summary>The plain string of the same text, for operations where Python's Markup behaves as its <c>str</c>.</summary>
    public StringValue Plain => new(Text);

    /// <summary>A markup value as its plain string; any other value as it is.</summary>
    public static Value Unwrap(Value v) => v is MarkupValue m ? m.Plain : v;

    /// <summary>MarkupSafe's <c>escape()</c> of text: <c>&amp; &lt; &gt; " '</c> as <c>&amp;amp; &amp;lt; &amp;gt; &amp;#34; &amp;#39;</c>.</summary>
    public static string Escape(string text)
    {
        if (text.AsSpan().IndexOfAny("&<>\"'") < 0)
        {
            return text;
        }
        var sb = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            sb.Append(c switch
            {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&#34;",
                '\'' => "&#39;",
                _ => c.ToString(),
            });
        }
        return sb.ToString();
    }

    /// <summary>The text a value joins a Markup with: a Markup's own, a plain string's escaped.</summary>
    public static string Escaped(Value v) => v is MarkupValue m ? m.Text : Escape(((StringValue)v).Value);
}

/// <summary>The filters and operators on a <see cref="MarkupValue"/>, each as Jinja2 3.1.6 and MarkupSafe 3 behave.</summary>
internal sealed partial class Interpreter
{
    // Filters whose Jinja2 result is a plain str computed from the Markup's text (they iterate it, which yields plain
    // characters, or build a new str): applied to the plain string.
    private static readonly HashSet<string> s_plainOfMarkup = new(StringComparer.Ordinal)
    {
        "first", "list", "length", "wordcount", "striptags", "tojson", "replace", "join", "title", "int", "float", "min", "max",
    };

    // Filters whose Jinja2 result is a Markup of the text the plain string gives (MarkupSafe wraps the str method's
    // result; their fixed arguments hold nothing to escape): applied to the plain string and wrapped again.
    private static readonly HashSet<string> s_markupOfMarkup = new(StringComparer.Ordinal)
    {
        "upper", "lower", "capitalize", "center", "indent", "reverse", "last",
    };

    /// <summary>
    /// Jinja2's <c>escape</c>: a Markup as it is, any other value's Python text escaped (none is <c>None</c>, a list its
    /// repr, undefined empty); <c>safe</c>: a Markup of the value's text, unescaped.
    /// </summary>
    private static MarkupValue ToMarkup(Value operand, bool escape, Func<string> where) => operand switch
    {
        MarkupValue m => m,
        _ => new MarkupValue(escape ? MarkupValue.Escape(PyText.Str(operand, where)) : PyText.Str(operand, where)),
    };

    /// <summary>A filter on a Markup: what Jinja2 gives, or a refusal naming the filter where Markup's rules are not modelled.</summary>
    private Value MarkupFilter(MarkupValue operand, FilterNode node, string name, Scope scope)
    {
        if (name is "e" or "escape" or "safe" or "string" && node.Arguments is null)
        {
            // escape leaves a Markup as it is; string is Jinja2's soft_str, which keeps it.
            return operand;
        }
        StringValue plain = operand.Plain;
        if (name is "default" or "d")
        {
            // The default when the Markup is false and boolean is given; else the Markup itself.
            Value chosen = ApplyFilter(plain, node, scope);
            return ReferenceEquals(chosen, plain) ? operand : chosen;
        }
        if (s_plainOfMarkup.Contains(name))
        {
            return ApplyFilter(plain, node, scope);
        }
        if (s_markupOfMarkup.Contains(name) || name is "trim" or "truncate" && TakesNoTextArgument(node, name))
        {
            Value result = ApplyFilter(plain, node, scope);
            return result is StringValue s ? new MarkupValue(s.Value) : result;
        }
        throw Error(node, $"filter '{node.Name}' is not supported on Jinja2's Markup (the text escape or safe gives), whose methods escape their arguments");
    }

    // trim(chars) and truncate(end=...) pass text to Markup's methods, which escape it; without it they are plain.
    private static bool TakesNoTextArgument(FilterNode node, string name) => node.Arguments is not { } args
        || (name == "trim" ? args.Count == 0
            : args.Count(a => a is not KeywordArgumentNode) <= 2 && args.All(a => a is not KeywordArgumentNode { Name: "end" }));

    /// <summary>
    /// A binary operator with a Markup on either side: <c>+</c> of a Markup and a string escapes the plain string and
    /// gives a Markup (MarkupSafe's <c>__add__</c>/<c>__radd__</c>), <c>*</c> repeats it, comparisons and <c>in</c> read
    /// its text; <c>+</c> with anything else is refused as Python's TypeError, and <c>%</c> (which escapes its values)
    /// is refused as not modelled. Null when neither side is a Markup.
    /// </summary>
    private Value? MarkupOperate(BinaryNode node, Value left, Value right)
    {
        if (left is not MarkupValue && right is not MarkupValue)
        {
            return null;
        }
        string op = node.Operator;
        switch (op)
        {
            case "+" when left is StringValue or MarkupValue && right is StringValue or MarkupValue:
                return new MarkupValue(MarkupValue.Escaped(left) + MarkupValue.Escaped(right));
            case "+":
                throw Error(node, $"operator '+' is not defined between {Describe(left)} and {Describe(right)} (Python's TypeError)");
            case "*" when left is MarkupValue ^ right is MarkupValue:
            {
                Value repeated = Operate(node, MarkupValue.Unwrap(left), MarkupValue.Unwrap(right));
                return repeated is StringValue s ? new MarkupValue(s.Value) : repeated;
            }
            case "<" or ">" or "<=" or ">=" or "in" or "not in":
                return Operate(node, MarkupValue.Unwrap(left), MarkupValue.Unwrap(right));
            default:
                throw Error(node, $"operator '{op}' is not supported on Jinja2's Markup (the text escape or safe gives)");
        }

        static string Describe(Value v) => v is MarkupValue ? "Jinja2's Markup" : v.AKind;
    }
}
