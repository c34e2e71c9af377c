using System.Runtime.CompilerServices;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Python's order comparisons (<c>&lt; &gt; &lt;= &gt;=</c>), shared by the operators, <c>min</c>/<c>max</c>, <c>sort</c> and
/// <c>dictsort</c>: numbers with numbers (booleans as integers), strings by code point, lists with lists and tuples with
/// tuples item by item (at the first pair that is not ==, else by length). Anything else, and any unorderable pair met
/// inside lists, is refused as Python raises TypeError; the refusal is the caller's, named for the two values met.
/// </summary>
internal static class PyOrder
{
    /// <summary>Whether <c>a op b</c> holds; <paramref name="refuse"/> makes the error for two values Python cannot order.</summary>
    public static bool Holds(string op, Value a, Value b, Func<string> where, Func<Value, Value, ChatTemplateException> refuse, int depth = 0)
    {
        (a, b) = (MarkupValue.Unwrap(a), MarkupValue.Unwrap(b));
        if (a is IntegerValue or FloatValue or BooleanValue && b is IntegerValue or FloatValue or BooleanValue)
        {
            return Apply(op, Values.ToDouble(a), Values.ToDouble(b));
        }
        if (a is StringValue x && b is StringValue y)
        {
            return Apply(op, PyStr.CompareByCodePoint(x.Value, y.Value), 0);
        }
        if (a is ArrayValue l && b is ArrayValue r && l.IsTuple == r.IsTuple)
        {
            if (!RuntimeHelpers.TryEnsureSufficientExecutionStack() || depth >= Json.MaxDepth)
            {
                throw new ChatTemplateException(FormattableString.Invariant($"chat template {where()}: {l.AKind} nested deeper than {Json.MaxDepth} levels cannot be compared"));
            }
            int n = Math.Min(l.Items.Count, r.Items.Count);
            for (int i = 0; i < n; i++)
            {
                if (!Values.PyEquals(l.Items[i], r.Items[i], where))
                {
                    return Holds(op, l.Items[i], r.Items[i], where, refuse, depth + 1);
                }
            }
            return Apply(op, l.Items.Count, r.Items.Count);
        }
        throw refuse(a, b);
    }

    /// <summary>
    /// The order Jinja2's <c>sort</c> gives two keys, each wrapped in a one-item list by its attribute getter: equal keys
    /// (by ==, so none with none) keep their order, others are compared by Python's &lt;.
    /// </summary>
    public static int SortOrder(Value a, Value b, Func<string> where, Func<Value, Value, ChatTemplateException> refuse) =>
        Values.PyEquals(a, b, where) ? 0 : Direct(a, b, where, refuse);

    /// <summary>The order of two keys compared by &lt; alone, as Python's sorted() compares them (none with none refused).</summary>
    public static int Direct(Value a, Value b, Func<string> where, Func<Value, Value, ChatTemplateException> refuse) =>
        Holds("<", a, b, where, refuse) ? -1 : Holds("<", b, a, where, refuse) ? 1 : 0;

    private static bool Apply(string op, double a, double b) => op switch
    {
        "<" => a < b,
        ">" => a > b,
        "<=" => a <= b,
        ">=" => a >= b,
        _ => throw new ArgumentException($"not an order comparison: {op}", nameof(op)),
    };
}
