using System.Globalization;
using System.Numerics;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Python's <c>str.format</c>, as Jinja2's sandbox runs it (its formatter reads a field's <c>.name</c> and <c>[key]</c>
/// as the template reads them): <c>{}</c> numbered automatically, <c>{0}</c>, <c>{name}</c> from keyword arguments,
/// <c>{{</c> and <c>}}</c>, the conversions <c>!s</c> and <c>!r</c>, and the format spec
/// <c>[[fill]align][sign][#][0][width][,|_][.precision][type]</c> as Python applies it to strings (<c>s</c>), integers
/// and booleans (<c>d b o x X c</c>, and the float types of their value) and floats (<c>e E f F g G %</c>, and none
/// without a precision: the float's Python text). What Python refuses is refused (an unknown code for the value's kind,
/// a sign or <c>=</c> for a string, a precision for an integer, a missing argument, manual and automatic numbering
/// mixed, a spec given to none, a list or a mapping); and, naming the construct, what is not modelled: <c>!a</c>, a
/// field nested in a spec, the <c>n</c> and <c>z</c> options, a float's precision without a type.
/// </summary>
internal static class PyStrFormat
{
    public static StringValue Format(string format, List<Value> args, Func<string> where)
    {
        ChatTemplateException Fail(string what) => new($"chat template {where()}: str.format: {what}");
        var keywords = args is [.., ObjectValue { IsKeywordArguments: true } kw] ? kw.Map : null;
        List<Value> positional = keywords is null ? args : args[..^1];
        var sb = new StringBuilder();
        // string.Formatter's auto_arg_index: the next automatic number, null once a digit field is met (its False).
        int? autoIndex = 0;
        int i = 0;
        while (i < format.Length)
        {
            char c = format[i++];
            if (c == '}')
            {
                if (i < format.Length && format[i] == '}')
                {
                    i++;
                    sb.Append('}');
                    continue;
                }
                throw Fail("Single '}' encountered in format string");
            }
            if (c != '{')
            {
                sb.Append(c);
                continue;
            }
            if (i < format.Length && format[i] == '{')
            {
                i++;
                sb.Append('{');
                continue;
            }
            // The field runs to its closing brace, counting braces nested in the spec, as Python's parser does.
            int depth = 1, start = i;
            while (i < format.Length && depth > 0)
            {
                depth += format[i] == '{' ? 1 : format[i] == '}' ? -1 : 0;
                i++;
            }
            if (depth > 0)
            {
                throw Fail(format.IndexOf('}', start) < 0 ? "Single '{' encountered in format string" : "expected '}' before end of string");
            }
            string field = format[start..(i - 1)];
            int nameEnd = NameEnd(field);
            string name = field[..nameEnd];
            string? conversion = null;
            int colon = nameEnd;
            if (nameEnd < field.Length && field[nameEnd] == '!')
            {
                colon = field.IndexOf(':', nameEnd);
                colon = colon < 0 ? field.Length : colon;
                conversion = field[(nameEnd + 1)..colon];
            }
            string spec = colon < field.Length ? field[(colon + 1)..] : "";
            if (spec.Contains('{', StringComparison.Ordinal))
            {
                throw Fail($"a field nested in the format spec ('{{{field}}}') is not supported");
            }
            Value value = Field(name, positional, keywords, ref autoIndex, Fail);
            value = conversion switch
            {
                null => value,
                "s" => new StringValue(PyText.Str(value, where)),
                "r" => new StringValue(PyText.Repr(value, where)),
                "a" => throw Fail("the conversion !a (Python's ascii()) is not supported"),
                _ => throw Fail(conversion.Length == 1 ? $"Unknown conversion specifier {conversion}" : "expected ':' after conversion specifier"),
            };
            sb.Append(FormatValue(value, spec, Fail, where));
            if (sb.Length > Interpreter.MaxLength)
            {
                throw Fail(FormattableString.Invariant($"the text grows past {Interpreter.MaxLength} characters"));
            }
        }
        return new StringValue(sb.ToString());
    }

    // Where the field's name ends: at the first '!' or ':' outside its [key] parts, as Python reads a field.
    private static int NameEnd(string field)
    {
        bool inKey = false;
        for (int i = 0; i < field.Length; i++)
        {
            switch (field[i])
            {
                case '[':
                    inKey = true;
                    break;
                case ']':
                    inKey = false;
                    break;
                case '!' or ':' when !inKey:
                    return i;
            }
        }
        return field.Length;
    }

    // The argument a field names, then its .name and [key] parts read as the template reads them.
    private static Value Field(string name, List<Value> positional, OrderedDictionary<string, Value>? keywords, ref int? autoIndex,
        Func<string, ChatTemplateException> fail)
    {
        Value Positional(int index) => index < positional.Count ? positional[index]
            : throw fail(FormattableString.Invariant($"IndexError: tuple index out of range (field {index}, {positional.Count} given)"));
        int end = name.IndexOfAny(['.', '[']);
        string first = end < 0 ? name : name[..end];
        Value value;
        // Python's string.Formatter numbers a field only when its whole name is empty or digits ('{0[x]}' is neither,
        // so '{0[x]} {}' reads argument 0 twice); once a digit name is met, '{}' is refused, and the reverse.
        if (name.Length == 0)
        {
            int index = autoIndex ?? throw fail("cannot switch from manual field specification to automatic field numbering");
            autoIndex = index + 1;
            value = Positional(index);
        }
        else if (first.Length > 0 && first.All(char.IsAsciiDigit))
        {
            if (name.Length == first.Length)
            {
                autoIndex = autoIndex is null or 0 ? null : throw fail("cannot switch from manual field specification to automatic field numbering");
            }
            value = Positional(first.Length > 9 ? int.MaxValue : int.Parse(first, CultureInfo.InvariantCulture));
        }
        else
        {
            value = keywords is not null && keywords.TryGetValue(first, out Value? v) ? v : throw fail($"KeyError: '{first}'");
        }
        int at = first.Length;
        while (at < name.Length)
        {
            string part;
            bool bracket = name[at] == '[';
            if (!bracket)
            {
                int next = name.IndexOfAny(['.', '['], at + 1);
                part = name[(at + 1)..(next < 0 ? name.Length : next)];
                at = next < 0 ? name.Length : next;
            }
            else
            {
                int close = name.IndexOf(']', at);
                if (close < 0)
                {
                    throw fail("Missing ']' in format string");
                }
                part = name[(at + 1)..close];
                at = close + 1;
                if (at < name.Length && name[at] is not ('.' or '['))
                {
                    throw fail("Only '.' or '[' may follow ']' in format field specifier");
                }
            }
            if (part.Length == 0)
            {
                throw fail("Empty attribute in format string");
            }
            value = Lookup(value, part, bracket, fail);
        }
        return value;
    }

    // Jinja2's sandboxed formatter reads .name as the template's attribute (a mapping's key, even of digits) and [key]
    // as its subscript (digits an integer index, anything else a string key); what it cannot find is undefined.
    private static Value Lookup(Value value, string part, bool bracket, Func<string, ChatTemplateException> fail)
    {
        if (bracket && part.All(char.IsAsciiDigit))
        {
            int index = part.Length > 9 ? int.MaxValue : int.Parse(part, CultureInfo.InvariantCulture);
            return value switch
            {
                ArrayValue a when index < a.Items.Count => a.Items[index],
                StringValue s when index < s.Value.Length => new StringValue(s.Value[index].ToString()),
                _ => UndefinedValue.Instance,
            };
        }
        if (!bracket && (value is StringValue or ArrayValue || (value is ObjectValue && s_dictAttributes.Contains(part))))
        {
            // Python's getattr comes first: a str's, list's or dict's method of that name, which is not modelled.
            throw fail($"the attribute '.{part}' of {value.AKind} in a format field is not supported");
        }
        OrderedDictionary<string, Value>? map = value switch
        {
            ObjectValue o => o.Map,
            NamespaceValue n => n.Map,
            _ => null,
        };
        return map is not null && map.TryGetValue(part, out Value? found) ? found : UndefinedValue.Instance;
    }

    private static readonly HashSet<string> s_dictAttributes = new(StringComparer.Ordinal)
    {
        "clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault", "update", "values",
    };

    private sealed record Spec(char Fill, char? Align, char Sign, bool Alternate, bool Zero, int Width, char? Grouping, int? Precision, char? Type);

    private static Spec ParseSpec(string spec, Func<string, ChatTemplateException> fail)
    {
        int i = 0;
        char fill = ' ';
        char? align = null;
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '=' or '^')
        {
            (fill, align, i) = (spec[0], spec[1], 2);
        }
        else if (spec.Length >= 1 && spec[0] is '<' or '>' or '=' or '^')
        {
            (align, i) = (spec[0], 1);
        }
        char sign = '-';
        if (i < spec.Length && spec[i] is '+' or '-' or ' ')
        {
            sign = spec[i++];
        }
        if (i < spec.Length && spec[i] == 'z')
        {
            throw fail("the 'z' option is not supported");
        }
        bool alternate = i < spec.Length && spec[i] == '#';
        i += alternate ? 1 : 0;
        bool zero = i < spec.Length && spec[i] == '0';
        i += zero ? 1 : 0;
        int? width = Digits(spec, ref i, fail);
        char? grouping = i < spec.Length && spec[i] is ',' or '_' ? spec[i++] : null;
        int? precision = null;
        if (i < spec.Length && spec[i] == '.')
        {
            i++;
            precision = Digits(spec, ref i, fail) ?? throw fail("Format specifier missing precision");
        }
        char? type = i < spec.Length ? spec[i++] : null;
        if (i < spec.Length)
        {
            throw fail("Invalid format specifier");
        }
        return new Spec(fill, align, sign, alternate, zero, width ?? 0, grouping, precision, type);
    }

    private static int? Digits(string spec, ref int i, Func<string, ChatTemplateException> fail)
    {
        int start = i;
        while (i < spec.Length && char.IsAsciiDigit(spec[i]))
        {
            i++;
        }
        if (i == start)
        {
            return null;
        }
        // A width or precision past the render's budget is refused: Python allocates it.
        return i - start <= 8 && int.Parse(spec[start..i], CultureInfo.InvariantCulture) is int n && n <= Interpreter.MaxLength ? n
            : throw fail(FormattableString.Invariant($"a width or precision of {spec[start..i]} grows past {Interpreter.MaxLength} characters"));
    }

    private static string FormatValue(Value value, string specText, Func<string, ChatTemplateException> fail, Func<string> where)
    {
        value = MarkupValue.Unwrap(value);
        if (value is not (StringValue or IntegerValue or FloatValue or BooleanValue))
        {
            // object.__format__: the value's text for an empty spec, a TypeError for any other.
            return specText.Length == 0 ? PyText.Str(value, where)
                : throw fail($"unsupported format string passed to {PythonType(value)}.__format__");
        }
        if (specText.Length == 0)
        {
            return PyText.Str(value, where);
        }
        Spec spec = ParseSpec(specText, fail);
        return value is StringValue s ? FormatString(s.Value, spec, fail) : FormatNumber(value, spec, fail);
    }

    private static string PythonType(Value v) => v switch
    {
        NullValue => "NoneType",
        ArrayValue { IsTuple: true } => "tuple",
        ArrayValue => "list",
        ObjectValue => "dict",
        UndefinedValue => "Undefined",
        _ => v.Kind,
    };

    private static string FormatString(string text, Spec spec, Func<string, ChatTemplateException> fail)
    {
        if (spec.Type is not (null or 's'))
        {
            throw fail($"Unknown format code '{spec.Type}' for object of type 'str'");
        }
        if (spec.Sign != '-')
        {
            throw fail("Sign not allowed in string format specifier");
        }
        if (spec.Alternate)
        {
            throw fail("Alternate form (#) not allowed in string format specifier");
        }
        if (spec.Align == '=')
        {
            throw fail("'=' alignment not allowed in string format specifier");
        }
        if (spec.Grouping is char g)
        {
            throw fail($"Cannot specify '{g}' with 's'.");
        }
        List<string> codePoints = Builtins.CodePoints(text);
        if (spec.Precision is int p && codePoints.Count > p)
        {
            text = string.Concat(codePoints.Take(p));
        }
        // A zero before the width pads a string with zeros, on the left-aligned default side (Python 3.10 on).
        char fill = spec.Zero && spec.Align is null ? '0' : spec.Fill;
        return Pad("", text, fill, spec.Align ?? '<', spec.Width);
    }

    private static string FormatNumber(Value value, Spec spec, Func<string, ChatTemplateException> fail)
    {
        bool isFloat = value is FloatValue;
        string typeName = isFloat ? "float" : value is BooleanValue ? "bool" : "int";
        char type = spec.Type ?? (isFloat ? 'r' : 'd');
        if (type == 'n')
        {
            throw fail("the format code 'n' (the locale's number) is not supported");
        }
        string body, prefix = "";
        bool negative;
        if (type is 'd' or 'b' or 'o' or 'x' or 'X' or 'c' && !isFloat)
        {
            if (spec.Precision is not null)
            {
                throw fail("Precision not allowed in integer format specifier");
            }
            BigInteger n = value is IntegerValue iv ? iv.Value : ((BooleanValue)value).Value ? 1 : 0;
            if (type == 'c')
            {
                if (spec.Sign != '-' || spec.Alternate || spec.Grouping is not null)
                {
                    throw fail(spec.Grouping is char cg ? $"Cannot specify '{cg}' with 'c'." : spec.Sign != '-' ? "Sign not allowed with integer format specifier 'c'" : "Alternate form (#) not allowed with integer format specifier 'c'");
                }
                return n < 0 || n > 0x10FFFF ? throw fail("%c arg not in range(0x110000)")
                    : n >= 0xD800 && n <= 0xDFFF ? throw fail("a lone surrogate from 'c' is not supported")
                    : Pad("", char.ConvertFromUtf32((int)n), spec.Zero && spec.Align is null ? '0' : spec.Fill, spec.Align ?? '>', spec.Width);
            }
            if (spec.Grouping == ',' && type != 'd')
            {
                throw fail($"Cannot specify ',' with '{type}'.");
            }
            negative = n.Sign < 0;
            BigInteger magnitude = BigInteger.Abs(n);
            (int radix, string symbols) = type switch
            {
                'b' => (2, "01"),
                'o' => (8, "01234567"),
                'x' => (16, "0123456789abcdef"),
                'X' => (16, "0123456789ABCDEF"),
                _ => (10, "0123456789"),
            };
            body = radix == 10 ? magnitude.ToString(CultureInfo.InvariantCulture) : PyPercentFormat.Radix(magnitude, radix, symbols);
            body = Grouped(body, spec.Grouping, radix == 10 ? 3 : 4);
            prefix = spec.Alternate && radix != 10 ? "0" + type switch { 'b' => 'b', 'o' => 'o', 'X' => 'X', _ => 'x' } : "";
        }
        else if (type is 'e' or 'E' or 'f' or 'F' or 'g' or 'G' or '%' or 'r')
        {
            double x = Values.ToDouble(value);
            if (type == 'r')
            {
                // No type: a float's Python text (repr), a number given a precision is 'g'-like and not modelled.
                if (spec.Precision is not null || spec.Alternate)
                {
                    throw fail("a float's precision or '#' without a type is not supported (give f, e, g or %)");
                }
                string repr = PyText.Float(x);
                negative = repr.StartsWith('-');
                body = negative ? repr[1..] : repr;
            }
            else
            {
                double shown = type == '%' ? x * 100 : x;
                char code = type == '%' ? 'f' : type;
                (string sign, string digits, _) = PyPercentFormat.Float(new FloatValue(shown), code, spec.Alternate, spec.Precision,
                    what => fail(what));
                negative = sign == "-";
                body = digits + (type == '%' ? "%" : "");
            }
            if (spec.Grouping is char g)
            {
                int end = body.IndexOfAny(['.', 'e', 'E', '%']);
                string whole = end < 0 ? body : body[..end];
                body = whole.All(char.IsAsciiDigit) ? Grouped(whole, g, 3) + body[whole.Length..] : body;
            }
        }
        else
        {
            throw fail($"Unknown format code '{type}' for object of type '{typeName}'");
        }
        string signText = negative ? "-" : spec.Sign == '+' ? "+" : spec.Sign == ' ' ? " " : "";
        // A zero before the width is '=' alignment with '0' as the fill, unless an alignment is given.
        (char fill, char align) = spec.Zero && spec.Align is null ? ('0', '=') : (spec.Fill, spec.Align ?? '>');
        if (align == '=' && fill == '0' && spec.Grouping is char group && type is 'd' or 'f' or 'F' or 'e' or 'E' or 'g' or 'G' or '%' or 'r')
        {
            // Python groups the zero padding too ('{:010,}'.format(1234) is 00,001,234): not modelled.
            throw fail($"zero padding with '{group}' grouping is not supported");
        }
        return Pad(signText + prefix, body, fill, align, spec.Width);
    }

    private static string Grouped(string digits, char? separator, int size)
    {
        if (separator is not char s || digits.Length <= size)
        {
            return digits;
        }
        var sb = new StringBuilder();
        int head = digits.Length % size == 0 ? size : digits.Length % size;
        sb.Append(digits, 0, head);
        for (int i = head; i < digits.Length; i += size)
        {
            sb.Append(s).Append(digits, i, size);
        }
        return sb.ToString();
    }

    // The sign and prefix, then the body, padded to width by code point: '=' pads between them.
    private static string Pad(string lead, string body, char fill, char align, int width)
    {
        int pad = width - Builtins.CodePoints(lead).Count - Builtins.CodePoints(body).Count;
        if (pad <= 0)
        {
            return lead + body;
        }
        return align switch
        {
            '<' => lead + body + new string(fill, pad),
            '^' => new string(fill, pad / 2) + lead + body + new string(fill, pad - pad / 2),
            '=' => lead + new string(fill, pad) + body,
            _ => new string(fill, pad) + lead + body,
        };
    }
}
