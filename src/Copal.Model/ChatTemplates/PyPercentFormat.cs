using System.Globalization;
using System.Numerics;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Python's printf-style <c>text % values</c>, which Jinja2 evaluates as Python does (the reference lacks it):
/// <c>%s</c>, <c>%r</c>, <c>%d</c>/<c>%i</c>/<c>%u</c>, <c>%x</c>/<c>%X</c>/<c>%o</c>, <c>%e</c>/<c>%E</c>,
/// <c>%f</c>/<c>%F</c>, <c>%g</c>/<c>%G</c>, <c>%c</c> and <c>%%</c>, with <c>%(key)s</c>, the flags <c>-+ #0</c>, a
/// width and precision (or <c>*</c>). A tuple on the right gives the values in order; any other value is the one
/// value, and a mapping (or a list or undefined, which Python takes as mappings too) may also be left unused. Floats
/// are written from their exact binary value, ties to even, as CPython's dtoa writes them. What Python refuses is
/// refused (a value of the wrong kind, too few or too many values, an unknown conversion); <c>%a</c> is refused.
/// </summary>
internal static class PyPercentFormat
{
    public static string Format(string format, Value right, Func<string> where)
    {
        ChatTemplateException Fail(string what) => new($"chat template {where()}: '%' formatting: {what}");
        List<Value> args = right is ArrayValue { IsTuple: true } tuple ? tuple.Items : [right];
        // Python's PyMapping_Check: anything with __getitem__ but a tuple or a string.
        bool mapping = right is ObjectValue or UndefinedValue || right is ArrayValue { IsTuple: false };
        int next = 0;
        Value NextArgument() => next < args.Count ? args[next++] : throw Fail("not enough arguments for format string");
        var sb = new StringBuilder();
        int i = 0;
        while (i < format.Length)
        {
            char c = format[i++];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }
            Value? keyed = null;
            if (i < format.Length && format[i] == '(')
            {
                int close = format.IndexOf(')', i);
                if (close < 0)
                {
                    throw Fail("incomplete format key");
                }
                string key = format[(i + 1)..close];
                i = close + 1;
                keyed = right switch
                {
                    ObjectValue o => o.Map.TryGetValue(key, out Value? v) ? v : throw Fail($"no key '{key}' in the mapping (Python's KeyError)"),
                    _ when !mapping => throw Fail("format requires a mapping"),
                    _ => throw Fail($"key '{key}' of {right.AKind}"),
                };
                // As CPython: once a key is read, no value is left for a conversion without one.
                next = args.Count;
            }
            bool left = false, plus = false, space = false, alternate = false, zero = false;
            for (; i < format.Length && "-+ #0".Contains(format[i], StringComparison.Ordinal); i++)
            {
                switch (format[i])
                {
                    case '-': left = true; break;
                    case '+': plus = true; break;
                    case ' ': space = true; break;
                    case '#': alternate = true; break;
                    default: zero = true; break;
                }
            }
            int? Number()
            {
                if (i < format.Length && format[i] == '*')
                {
                    i++;
                    Value v = NextArgument();
                    // Refused past the budget as a written number is: a clamp would write a shorter text than Python's.
                    return v is not (IntegerValue or BooleanValue) ? throw Fail("* wants int")
                        : Math.Abs(Values.ToDouble(v)) <= Interpreter.MaxLength ? (int)Values.ToDouble(v) : throw Fail("width or precision too big");
                }
                int digitsStart = i;
                while (i < format.Length && char.IsAsciiDigit(format[i]))
                {
                    i++;
                }
                return i == digitsStart ? null
                    : int.TryParse(format.AsSpan(digitsStart, i - digitsStart), NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n <= Interpreter.MaxLength
                        ? n : throw Fail("width or precision too big");
            }
            int width = Number() ?? 0;
            if (width < 0)
            {
                // A negative * width left-justifies, as in Python.
                left = true;
                width = -width;
            }
            int? precision = null;
            if (i < format.Length && format[i] == '.')
            {
                i++;
                precision = Math.Max(0, Number() ?? 0);
            }
            while (i < format.Length && format[i] is 'h' or 'l' or 'L')
            {
                i++;
            }
            if (i >= format.Length)
            {
                throw Fail("incomplete format");
            }
            char type = format[i++];
            if (type == '%')
            {
                sb.Append('%');
                continue;
            }
            Value value = keyed ?? NextArgument();
            (string sign, string body, bool numeric) = type switch
            {
                's' => ("", Truncated(PyText.Str(value, where), precision), false),
                'r' => ("", Truncated(PyText.Repr(value, where), precision), false),
                'd' or 'i' or 'u' or 'x' or 'X' or 'o' => Integer(value, type, precision, Fail),
                'e' or 'E' or 'f' or 'F' or 'g' or 'G' => Float(value, type, alternate, precision, Fail),
                'c' => ("", Character(value, Fail), false),
                'a' => throw Fail("%a (Python's ascii()) is not supported"),
                _ => throw Fail(FormattableString.Invariant($"unsupported format character '{type}' (0x{(int)type:x}) at index {i - 1}")),
            };
            if (sign.Length == 0 && numeric && !body.StartsWith('-'))
            {
                sign = plus ? "+" : space ? " " : "";
            }
            else if (body.StartsWith('-'))
            {
                (sign, body) = ("-", body[1..]);
            }
            string prefix = numeric && alternate && type is 'x' or 'X' or 'o' ? "0" + type : "";
            int pad = width - (sign.Length + prefix.Length + Builtins.CodePoints(body).Count);
            if (pad <= 0)
            {
                sb.Append(sign).Append(prefix).Append(body);
            }
            else if (left)
            {
                sb.Append(sign).Append(prefix).Append(body).Append(' ', pad);
            }
            else if (zero && numeric)
            {
                sb.Append(sign).Append(prefix).Append('0', pad).Append(body);
            }
            else
            {
                sb.Append(' ', pad).Append(sign).Append(prefix).Append(body);
            }
            if (sb.Length > Interpreter.MaxLength)
            {
                throw Fail(FormattableString.Invariant($"the text grows past {Interpreter.MaxLength} characters"));
            }
        }
        if (next < args.Count && !mapping)
        {
            throw Fail("not all arguments converted during string formatting");
        }
        return sb.ToString();
    }

    private static string Truncated(string text, int? precision) =>
        precision is int p && Builtins.CodePoints(text) is { } cps && cps.Count > p ? string.Concat(cps.Take(p)) : text;

    // %d (an integer, or a float truncated toward zero), %x, %X, %o (integers only); precision is a minimum of digits.
    private static (string, string, bool) Integer(Value value, char type, int? precision, Func<string, ChatTemplateException> fail)
    {
        BigInteger n = value switch
        {
            IntegerValue i => i.Value,
            BooleanValue b => b.Value ? 1 : 0,
            FloatValue f when type is 'd' or 'i' or 'u' => double.IsNaN(f.Value) ? throw fail("cannot convert float NaN to integer")
                : double.IsInfinity(f.Value) ? throw fail("cannot convert float infinity to integer") : new BigInteger(Math.Truncate(f.Value)),
            _ => throw fail($"%{type} format: {(type is 'd' or 'i' or 'u' ? "a real number" : "an integer")} is required, not {value.Kind}"),
        };
        BigInteger magnitude = BigInteger.Abs(n);
        string digits = type switch
        {
            'x' => Radix(magnitude, 16, "0123456789abcdef"),
            'X' => Radix(magnitude, 16, "0123456789ABCDEF"),
            'o' => Radix(magnitude, 8, "01234567"),
            _ => magnitude.ToString(CultureInfo.InvariantCulture),
        };
        if (precision is int p && digits.Length < p)
        {
            digits = new string('0', p - digits.Length) + digits;
        }
        return (n.Sign < 0 ? "-" : "", digits, true);
    }

    internal static string Radix(BigInteger n, int radix, string symbols)
    {
        if (n.IsZero)
        {
            return "0";
        }
        var sb = new StringBuilder();
        while (!n.IsZero)
        {
            sb.Insert(0, symbols[(int)(n % radix)]);
            n /= radix;
        }
        return sb.ToString();
    }

    private static string Character(Value value, Func<string, ChatTemplateException> fail) => value switch
    {
        IntegerValue { Value: >= 0 and <= 0x10FFFF and not (>= 0xD800 and <= 0xDFFF) } i => char.ConvertFromUtf32((int)i.Value),
        IntegerValue => throw fail("%c arg not in range(0x110000) or a surrogate"),
        BooleanValue b => b.Value ? "\u0001" : "\u0000",
        StringValue s when Builtins.CodePoints(s.Value).Count == 1 => s.Value,
        _ => throw fail($"%c requires an integer or a single character, not {value.AKind}"),
    };

    // %e, %f, %g (and upper case): the value as a float, digits exact and rounded half to even, as CPython writes them.
    internal static (string, string, bool) Float(Value value, char type, bool alternate, int? precision, Func<string, ChatTemplateException> fail)
    {
        double x = value is IntegerValue or FloatValue or BooleanValue ? Values.ToDouble(value)
            : throw fail($"must be real number, not {value.Kind}");
        bool upper = char.IsUpper(type);
        string sign = double.IsNegative(x) && !double.IsNaN(x) ? "-" : "";
        double a = Math.Abs(x);
        if (!double.IsFinite(a))
        {
            string word = double.IsNaN(a) ? "nan" : "inf";
            return (sign, upper ? word.ToUpperInvariant() : word, true);
        }
        int p = precision ?? 6;
        string body;
        switch (char.ToLowerInvariant(type))
        {
            case 'f':
                body = Fixed(a, p, alternate);
                break;
            case 'e':
                body = Exponential(a, p, alternate, upper);
                break;
            default:
            {
                int significant = Math.Max(1, p);
                int exponent = Significant(a, significant).Exponent;
                if (exponent >= -4 && exponent < significant)
                {
                    body = Fixed(a, significant - 1 - exponent, alternate);
                }
                else
                {
                    body = Exponential(a, significant - 1, alternate, upper);
                }
                if (!alternate && body.Contains('.', StringComparison.Ordinal))
                {
                    int e = body.IndexOfAny(['e', 'E']);
                    string mantissa = (e < 0 ? body : body[..e]).TrimEnd('0').TrimEnd('.');
                    body = mantissa + (e < 0 ? "" : body[e..]);
                }
                break;
            }
        }
        return (sign, body, true);
    }

    // A double's exact value has at most 1074 decimals and 767 significant digits: past them every digit is a zero,
    // written as such rather than computed through 10^precision (a precision near the budget took hours).
    private const int ExactDecimals = 1100, ExactDigits = 800;

    private static string Fixed(double a, int decimals, bool alternate)
    {
        if (decimals > ExactDecimals)
        {
            return Fixed(a, ExactDecimals, alternate) + new string('0', decimals - ExactDecimals);
        }
        string digits = ExactDecimal.ScaledHalfEven(a, decimals).ToString(CultureInfo.InvariantCulture).PadLeft(decimals + 1, '0');
        string whole = digits[..^decimals], fraction = digits[^decimals..];
        return decimals == 0 ? whole + (alternate ? "." : "") : whole + "." + fraction;
    }

    // The first `count` significant digits of a, rounded, and the decimal exponent of the first.
    private static (string Digits, int Exponent) Significant(double a, int count)
    {
        if (a == 0)
        {
            return (new string('0', count), 0);
        }
        if (count > ExactDigits)
        {
            (string exact, int at) = Significant(a, ExactDigits);
            return (exact + new string('0', count - ExactDigits), at);
        }
        int exponent = (int)Math.Floor(Math.Log10(a));
        // Log10 can be off by one near a power of ten: correct it against the exact digits.
        for (int tries = 0; tries < 3; tries++)
        {
            string digits = ExactDecimal.ScaledHalfEven(a, count - 1 - exponent).ToString(CultureInfo.InvariantCulture);
            if (digits.Length == count)
            {
                return (digits, exponent);
            }
            exponent += digits.Length > count ? 1 : -1;
        }
        string last = ExactDecimal.ScaledHalfEven(a, count - 1 - exponent).ToString(CultureInfo.InvariantCulture);
        return (last[..count], exponent);
    }

    private static string Exponential(double a, int decimals, bool alternate, bool upper)
    {
        (string digits, int exponent) = Significant(a, decimals + 1);
        string mantissa = digits[..1] + (decimals > 0 || alternate ? "." : "") + digits[1..];
        return mantissa + (upper ? "E" : "e") + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
    }
}
