namespace Copal.Model.ChatTemplates;

/// <summary>
/// The filters that take parameters, each declared as Jinja2 3.1.6 declares it (transformers' own <c>tojson</c> for
/// that one) and bound by <see cref="BindArguments"/>, with or without an argument list: <c>x | join</c> and
/// <c>x | join(', ')</c> are one path.
/// </summary>
internal sealed partial class Interpreter
{
    private static readonly Dictionary<string, FilterParameter[]> s_filterParameters = new(StringComparer.Ordinal)
    {
        // transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
        ["tojson"] = [new("ensure_ascii", BooleanValue.False), new("indent", NullValue.Instance), new("separators", NullValue.Instance), new("sort_keys", BooleanValue.False)],
        ["join"] = [new("d", StringValue.Empty), new("attribute", NullValue.Instance)],
        ["int"] = [new("default", new IntegerValue(0)), new("base", new IntegerValue(10))],
        ["float"] = [new("default", new FloatValue(0))],
        ["unique"] = [new("case_sensitive", BooleanValue.False), new("attribute", NullValue.Instance)],
        ["sum"] = [new("attribute", NullValue.Instance), new("start", new IntegerValue(0))],
        ["trim"] = [new("chars", NullValue.Instance)],
        ["default"] = [new("default_value", StringValue.Empty), new("boolean", BooleanValue.False)],
        ["sort"] = [new("reverse", BooleanValue.False), new("case_sensitive", BooleanValue.False), new("attribute", NullValue.Instance)],
        ["indent"] = [new("width", new IntegerValue(4)), new("first", BooleanValue.False), new("blank", BooleanValue.False)],
        ["truncate"] = [new("length", new IntegerValue(255)), new("killwords", BooleanValue.False), new("end", new StringValue("...")), new("leeway", NullValue.Instance)],
        ["center"] = [new("width", new IntegerValue(80))],
        ["round"] = [new("precision", new IntegerValue(0)), new("method", new StringValue("common"))],
        ["min"] = [new("case_sensitive", BooleanValue.False), new("attribute", NullValue.Instance)],
        ["max"] = [new("case_sensitive", BooleanValue.False), new("attribute", NullValue.Instance)],
        ["dictsort"] = [new("case_sensitive", BooleanValue.False), new("by", new StringValue("key")), new("reverse", BooleanValue.False)],
        ["replace"] = [new("old", null), new("new", null), new("count", NullValue.Instance)],
        ["groupby"] = [new("attribute", null), new("default", NullValue.Instance), new("case_sensitive", BooleanValue.False)],
        ["batch"] = [new("linecount", null), new("fill_with", NullValue.Instance)],
        ["slice"] = [new("slices", null), new("fill_with", NullValue.Instance)],
        ["striptags"] = [],
    };

    /// <summary>The filter applied, when it is one that takes parameters; null for the others.</summary>
    private Value? ApplyBoundFilter(Value operand, FilterNode node, string name, Scope scope)
    {
        if (!s_filterParameters.TryGetValue(name, out FilterParameter[]? parameters))
        {
            return null;
        }
        Value[] a = BindArguments(node, scope, name, parameters);
        return name switch
        {
            "tojson" => ToJson(operand, a[0], a[1], a[2], a[3], node),
            "join" => Join(operand, a[0], a[1], node),
            "int" or "float" => NumberFilter(name, operand, a[0], name == "int" ? a[1] : new IntegerValue(10), node),
            "unique" => UniqueFilter(operand, a[0], a[1], node),
            "sum" => SumFilter(operand, a[0], a[1], node),
            "trim" => Trimmed(operand, a[0], node),
            // Python's `if boolean and not value`: both by their truth.
            "default" => operand is UndefinedValue || (a[1].IsTrue && !operand.IsTrue) ? a[0] : operand,
            "sort" => Sorted(operand, a[0], a[1], a[2], node),
            "indent" => Indented(operand, a[0], a[1], a[2], node),
            "truncate" => Truncate(operand, a[0], a[1], a[2], a[3], node),
            "center" => PyStr.Center(PyText.Str(operand, Where(node)), a[0], Where(node)),
            "round" => Rounded(operand, a[0], a[1], node),
            "min" or "max" => Extreme(operand, name == "max", a[0], a[1], node),
            "dictsort" => operand is ObjectValue mapping ? Dictsort.Apply(mapping, [.. a], Where(node))
                : throw Error(node, $"filter 'dictsort' is not supported on {operand.AKind}"),
            // Of a string only: none, a list and a mapping stay refused, as the reference refuses them (Python writes
            // their text), so a template that edits a tool call's none content fails and the formatter gives it text.
            "replace" => operand is StringValue text ? ((FunctionValue)Builtins.StringMethod(text, "replace")!).Invoke([.. a], scope, Where(node))
                : throw Error(node, $"filter 'replace' is not supported on {operand.AKind}"),
            "groupby" => GroupBy(operand, a[0], a[1], a[2], node),
            "batch" => Batch(operand, a[0], a[1], node),
            "slice" => Slice(operand, a[0], a[1], node),
            // Jinja2's Markup(str(value)).striptags(): of the value's Python text (none is None, a list its repr).
            "striptags" => new StringValue(HtmlText.StripTags(PyText.Str(operand, Where(node)), Where(node))),
            _ => throw Error(node, $"filter '{name}' has parameters but no implementation"),
        };
    }

    private StringValue ToJson(Value operand, Value ensureAscii, Value indent, Value separators, Value sortKeys, FilterNode node)
    {
        if (indent is not (IntegerValue or NullValue))
        {
            throw Error(node, $"tojson takes indent as an integer or none, got {indent.AKind}");
        }
        (string, string)? seps = separators switch
        {
            ArrayValue { Items: [StringValue itemSep, StringValue keySep] } => (itemSep.Value, keySep.Value),
            NullValue => null,
            _ => throw Error(node, "tojson separators must be two strings"),
        };
        if (indent is IntegerValue { Value: > MaxLength } wide)
        {
            throw Error(node, FormattableString.Invariant($"tojson indent {wide.Value} is past {MaxLength}"));
        }
        // json.dumps takes ensure_ascii and sort_keys by their truth.
        var options = new JsonOptions(indent is IntegerValue iv ? (int)iv.Value : null, ensureAscii.IsTrue, seps, sortKeys.IsTrue);
        return new StringValue(Json.Write(operand, options, 0, Where(node)));
    }

    // Jinja2's str(d).join(map(str, items)), of what Python iterates, each item's attribute if one is named.
    private StringValue Join(Value operand, Value separator, Value attribute, FilterNode node)
    {
        List<Value> items = Iterated(operand, node);
        if (AttributePathOf(attribute) is string path)
        {
            items = items.Select(item => Builtins.AttributePath(item, path)).ToList();
        }
        return Joined(items.Select(x => Values.Render(x, Where(node))).ToList(), PyText.Str(separator, Where(node)), node);
    }

    private ArrayValue Sorted(Value operand, Value reverse, Value caseSensitive, Value attribute, FilterNode node)
    {
        if (reverse is not (BooleanValue or IntegerValue) || attribute is not (StringValue or IntegerValue or NullValue))
        {
            throw Error(node, "sort takes reverse (a boolean), case_sensitive and attribute (a string or integer)");
        }
        Func<Value, Value> key = AttributePathOf(attribute) is string path ? x => Builtins.AttributePath(x, path) : x => x;
        if (attribute is StringValue { Value: var names } && names.Contains(',', StringComparison.Ordinal))
        {
            // Jinja2's sort takes comma-separated attributes: the key is the list of each one's value (each lowered
            // unless case_sensitive), compared as Python compares lists.
            string[] paths = names.Split(',');
            bool lower = !caseSensitive.IsTrue;
            Value Part(Value item, string path)
            {
                Value v = Builtins.AttributePath(item, path);
                return lower && MarkupValue.Unwrap(v) is StringValue s ? new StringValue(JsCase.Lower(s.Value)) : v;
            }
            key = x => new ArrayValue(paths.Select(p => Part(x, p)).ToList());
        }
        return new ArrayValue(Builtins.StableSort(Iterated(operand, node), key, caseSensitive.IsTrue, reverse.IsTrue, keysAreWrapped: true, Where(node)));
    }

    // Jinja2's indent: a string width is the indentation itself, an integer that many spaces (none when negative, as
    // Python's " " * -1); first and blank by their truth.
    private StringValue Indented(Value operand, Value width, Value first, Value blank, FilterNode node)
    {
        if (operand is not StringValue str)
        {
            throw Error(node, $"filter 'indent' is not supported on {operand.AKind}");
        }
        string pad = width switch
        {
            StringValue s => s.Value,
            IntegerValue { Value: > MaxLength } => throw Error(node, FormattableString.Invariant($"indent would make a string of {long.MaxValue} characters, past {MaxLength}")),
            IntegerValue w => new string(' ', (int)Math.Max(0, w.Value)),
            _ => throw Error(node, $"the width of indent must be an integer or a string, got {width.AKind}"),
        };
        RequireLength(str.Value.Length + ((long)pad.Length * (1 + str.Value.AsSpan().Count('\n'))), node, "indent");
        return new StringValue(Builtins.Indent(str.Value, pad, first.IsTrue, blank.IsTrue));
    }
}
