using System.Globalization;
using System.Numerics;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Jinja2's <c>round(precision=0, method='common')</c>, <c>min</c> and <c>max(case_sensitive=False,
/// attribute=None)</c>, which the reference lacks. <c>round</c> is Python's <c>round(value, precision)</c> (ties to
/// even on the number's exact binary value, so <c>0.125 | round(2)</c> is <c>0.12</c> and <c>2.5 | round</c>
/// <c>2.0</c>; an integer stays an integer) or <c>floor</c>/<c>ceil</c> of the value scaled by 10^precision, divided
/// back (a float). <c>min</c> and <c>max</c> are Python's over what the value iterates, strings compared lowered unless
/// case-sensitive, each item's attribute if named; the first of equal items; undefined when there is none.
/// </summary>
internal sealed partial class Interpreter
{
    private Value Rounded(Value operand, Value precision, Value method, FilterNode node)
    {
        if (method is not StringValue { Value: "common" or "ceil" or "floor" } how)
        {
            throw Error(node, "round's method must be common, ceil or floor");
        }
        if (operand is not (IntegerValue or FloatValue or BooleanValue))
        {
            throw Error(node, $"round of {operand.AKind}: Python's round() takes a number");
        }
        if (precision is NullValue && how.Value == "common")
        {
            // Python's round(x): an integer, ties to even.
            if (operand is FloatValue { Value: var x } && !double.IsFinite(x))
            {
                throw Error(node, $"round of {PyText.Float(x)}: Python cannot convert it to an integer");
            }
            return Values.Number(Math.Round(Values.ToDouble(operand), MidpointRounding.ToEven), false, Where(node));
        }
        if (precision is not (IntegerValue or BooleanValue))
        {
            throw Error(node, $"round takes precision as an integer, got {precision.AKind}");
        }
        long digits = (long)Values.ToDouble(precision);
        if (how.Value == "common")
        {
            return operand is FloatValue f ? new FloatValue(RoundHalfEven(f.Value, digits))
                : Values.Number(digits >= 0 ? Values.ToDouble(operand) : RoundInteger((long)Values.ToDouble(operand), -digits), false, Where(node));
        }
        // Jinja2's math.floor(value * 10 ** precision) / 10 ** precision. Past 10^22 the power is no exact double, where
        // Python divides exact integers; such precisions are refused rather than rounded otherwise.
        if (Math.Abs(digits) > 22)
        {
            throw Error(node, FormattableString.Invariant($"round(..., '{how.Value}') with precision {digits}, past ±22, is not supported"));
        }
        double scale = Math.Pow(10, digits);
        double scaled = Values.ToDouble(operand) * scale;
        if (!double.IsFinite(scaled))
        {
            throw Error(node, $"round(..., '{how.Value}') of {PyText.Float(scaled)}: Python cannot convert it to an integer");
        }
        return new FloatValue((how.Value == "floor" ? Math.Floor(scaled) : Math.Ceiling(scaled)) / scale);
    }

    // Python's round(int, -n): to a multiple of 10^n, ties to even.
    private static double RoundInteger(long value, long tens)
    {
        if (tens > 18)
        {
            return 0;
        }
        BigInteger unit = BigInteger.Pow(10, (int)tens);
        BigInteger q = BigInteger.DivRem(BigInteger.Abs(value), unit, out BigInteger r);
        if (2 * r > unit || (2 * r == unit && !q.IsEven))
        {
            q++;
        }
        return (double)(q * unit) * Math.Sign(value);
    }

    /// <summary>
    /// Python's <c>round(x, digits)</c> of a float: the exact binary value rounded to <paramref name="digits"/> decimal
    /// places, ties to even, read back as the nearest double (CPython's dtoa-based <c>double_round</c>).
    /// </summary>
    internal static double RoundHalfEven(double x, long digits)
    {
        if (!double.IsFinite(x) || x == 0 || digits > 323)
        {
            return x;
        }
        if (digits < -308)
        {
            return 0.0 * x;
        }
        // digits is within −308..323 here, so it fits an int.
        BigInteger q = ExactDecimal.ScaledHalfEven(x, (int)digits);
        double magnitude = double.Parse(q.ToString(CultureInfo.InvariantCulture) + "E" + (-digits).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        return double.CopySign(magnitude, x);
    }

    private Value Extreme(Value operand, bool max, Value caseSensitive, Value attribute, FilterNode node)
    {
        string name = max ? "max" : "min";
        if (attribute is not (StringValue or IntegerValue or NullValue))
        {
            throw Error(node, $"{name} takes attribute as a string or integer, got {attribute.AKind}");
        }
        List<Value> items = Iterated(operand, node);
        if (items.Count == 0)
        {
            // Jinja2's "No aggregated item, sequence was empty." undefined.
            return UndefinedValue.Instance;
        }
        string? path = AttributePathOf(attribute);
        Value Key(Value item)
        {
            Value v = path is null ? item : Builtins.AttributePath(item, path);
            // A Markup's key is its text, lowered by Markup.lower as a str is.
            v = MarkupValue.Unwrap(v);
            return v is StringValue s && !caseSensitive.IsTrue ? new StringValue(JsCase.Lower(s.Value)) : v;
        }
        Value best = items[0], bestKey = Key(best);
        foreach (Value item in items.Skip(1))
        {
            Value key = Key(item);
            // Python's max keeps the first of equal items: it takes an item only when strictly greater (min: less).
            if (max ? Less(bestKey, key, name, node) : Less(key, bestKey, name, node))
            {
                best = item;
                bestKey = key;
            }
        }
        return best;
    }

    // Python's a < b, as min and max compare (PyOrder); anything else is refused, as Python raises TypeError.
    private bool Less(Value a, Value b, string name, FilterNode node) =>
        PyOrder.Holds("<", a, b, Where(node), (x, y) => Error(node, $"{name} cannot compare {x.AKind} with {y.AKind}"));
}
