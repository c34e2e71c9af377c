using System.Numerics;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// The filters (<c>x | name</c> and <c>x | name(args)</c>): those with parameters bound as Python binds them
/// (<see cref="ApplyBoundFilter"/>), the rest here per operand kind, as the reference implements them where Copal does
/// not follow Jinja2 (docs/chat-templates.md). A filter neither has, or applied to other kinds, is refused with its
/// name and position.
/// </summary>
internal sealed partial class Interpreter
{
    private Value ApplyFilter(Value operand, FilterNode node, Scope scope)
    {
        Func<string> where = Where(node);
        // count is Jinja2's other name for length.
        string name = node.Name == "count" ? "length" : node.Name;
        ChatTemplateException Unsupported() =>
            Error(node, $"filter '{node.Name}{(node.Arguments is null ? "" : "(...)")}' is not supported on {operand.AKind}");
        if (name == "tojson" && operand is UndefinedValue)
        {
            // Python's json.dumps, which transformers' tojson calls, refuses Jinja2's Undefined (the reference wrote null).
            throw Error(node, $"tojson of an undefined value{UndefinedName(node.Operand)}");
        }
        if (operand is MarkupValue markup)
        {
            return MarkupFilter(markup, node, name, scope);
        }
        if (name is "e" or "escape" or "safe")
        {
            // Jinja2's escape and safe give a Markup (of the value's Python text); neither takes an argument.
            return node.Arguments is null ? ToMarkup(operand, escape: name != "safe", where)
                : throw Error(node, $"filter '{node.Name}' takes no argument");
        }
        if (name is "map" or "select" or "reject" or "selectattr" or "rejectattr" && operand is not ArrayValue)
        {
            // Jinja2's `if value:` before iterating: none, undefined and other false values give nothing; a string
            // gives its characters and a mapping its keys, as Python iterates them.
            operand = !operand.IsTrue && operand is not (FunctionValue or LoopValue or NamespaceValue) ? new ArrayValue([])
                : operand is StringValue or ObjectValue ? new ArrayValue(PythonIterated(operand)!) : operand;
        }
        if (ApplyBoundFilter(operand, node, name, scope) is Value bound)
        {
            return bound;
        }

        if (node.Arguments is null)
        {
            if (name == "wordcount")
            {
                return new IntegerValue(WordCount(PyText.Str(operand, where)));
            }
            if (name is "first" or "last" && operand is StringValue or ObjectValue or UndefinedValue)
            {
                // Of what Python iterates: a string's characters (by code point), a mapping's keys; undefined when empty.
                List<Value> items = Iterated(operand, node);
                return items.Count == 0 ? UndefinedValue.Instance : name == "first" ? items[0] : items[^1];
            }
            if (name == "length" && operand is UndefinedValue)
            {
                return new IntegerValue(0);
            }
            if (name is "list" or "reverse" && operand is StringValue or ObjectValue or UndefinedValue)
            {
                // What Python iterates; Jinja2's reverse of a string is the string reversed (by code point).
                List<Value> items = Iterated(operand, node);
                if (name == "list")
                {
                    return new ArrayValue(items);
                }
                items.Reverse();
                return operand is StringValue ? new StringValue(string.Concat(items.Select(c => ((StringValue)c).Value))) : new ArrayValue(items);
            }
            switch (operand)
            {
                case ArrayValue arr:
                    return name switch
                    {
                        // A tuple (an items pair) becomes a list, as Python's list() makes one: it prints ['a', 1].
                        "list" => arr.IsTuple ? new ArrayValue(arr.Items) : arr,
                        "first" => arr.Items.Count > 0 ? arr.Items[0] : UndefinedValue.Instance,
                        "last" => arr.Items.Count > 0 ? arr.Items[^1] : UndefinedValue.Instance,
                        "length" => new IntegerValue(arr.Items.Count),
                        "reverse" => new ArrayValue(Enumerable.Reverse(arr.Items).ToList()),
                        "string" => new StringValue(Values.Render(arr, where)),
                        "select" => new ArrayValue(arr.Items.Where(x => x.IsTrue).ToList()),
                        "reject" => new ArrayValue(arr.Items.Where(x => !x.IsTrue).ToList()),
                        _ => throw Unsupported(),
                    };
                case StringValue str:
                    return name switch
                    {
                        "length" => new IntegerValue(str.Value.Length),
                        "upper" or "lower" or "title" or "capitalize" => Builtins.StringMethod(str, name) is FunctionValue f
                            ? f.Invoke([], scope, Where(node)) : throw Unsupported(),
                        "string" => str,
                        _ => throw Unsupported(),
                    };
                case IntegerValue or FloatValue:
                {
                    double d = Values.ToDouble(operand);
                    return name switch
                    {
                        "abs" => operand is IntegerValue iv ? new IntegerValue(Math.Abs(iv.Value)) : new FloatValue(Math.Abs(d)),
                        "string" => new StringValue(Values.Render(operand, where)),
                        _ => throw Unsupported(),
                    };
                }
                case ObjectValue obj:
                    switch (name)
                    {
                        case "items":
                            return Builtins.Items(obj);
                        case "length":
                            return new IntegerValue(obj.Map.Count);
                        case "string":
                            // What "{{ value }}" prints, Python's str(dict) as Jinja2 prints it; the reference refuses it,
                            // and a template such as Qwen3-Coder's writes object arguments so.
                            return new StringValue(Values.Render(obj, where));
                        default:
                            Value? builtin = Builtins.ObjectMethod(obj, name);
                            return builtin is FunctionValue fn ? fn.Invoke([], scope, Where(node)) : builtin ?? throw Unsupported();
                    }
                case BooleanValue b:
                    return name switch
                    {
                        "bool" => b,
                        "string" => new StringValue(Values.Render(b, where)),
                        _ => throw Unsupported(),
                    };
                case NullValue or UndefinedValue when name == "string":
                    return new StringValue(Values.Render(operand, where));
                default:
                    throw Unsupported();
            }
        }

        IReadOnlyList<Node> argNodes = node.Arguments;
        switch (operand)
        {
            case ArrayValue arr:
                switch (name)
                {
                    case "selectattr" or "rejectattr":
                    {
                        bool select = name == "selectattr";
                        if (arr.Items.Any(x => x is not (ObjectValue or NamespaceValue)))
                        {
                            throw Error(node, $"{name} applies only to a list of mappings");
                        }
                        if (argNodes.Any(x => x is not StringLiteralNode))
                        {
                            throw Error(node, $"the arguments of {name} must be string literals");
                        }
                        var literal = argNodes.Cast<StringLiteralNode>().Select(x => x.Value).ToList();
                        if (literal.Count == 0)
                        {
                            throw Error(node, $"{name} needs an attribute name");
                        }
                        Func<Value, Value?, bool> test = literal.Count > 1 ? TestByName(literal[1], node)
                            : (v, _) => v.IsTrue;
                        Value? argument = literal.Count > 2 ? new StringValue(literal[2]) : null;
                        return new ArrayValue(arr.Items.Where(item =>
                        {
                            OrderedDictionary<string, Value> map = item is ObjectValue o ? o.Map : ((NamespaceValue)item).Map;
                            bool result = map.TryGetValue(literal[0], out Value? a) && test(a, argument);
                            return select ? result : !result;
                        }).ToList());
                    }
                    case "select" or "reject":
                    {
                        // Jinja2's (the reference lacks them, and Qwen3-Coder's template needs reject("in", …)):
                        // the items the named test, given the second argument if any, passes or fails.
                        (List<Value> args, OrderedDictionary<string, Value> kw) = EvaluateArguments(argNodes, scope);
                        if (kw.Count > 0 || args.Count is 0 or > 2 || args[0] is not StringValue testName)
                        {
                            throw Error(node, $"{name} takes a test's name (a string) and at most one argument for the test");
                        }
                        Func<Value, Value?, bool> test = TestByName(testName.Value, node);
                        Value? argument = args.Count > 1 ? args[1] : null;
                        bool keep = name == "select";
                        return new ArrayValue(arr.Items.Where(item => test(item, argument) == keep).ToList());
                    }
                    case "map":
                    {
                        (List<Value> mapArgs, OrderedDictionary<string, Value> kw) = EvaluateArguments(argNodes, scope);
                        if (mapArgs.Count > 0 && !kw.ContainsKey("attribute"))
                        {
                            // Jinja2's map(filter_name, *args, **kwargs): the named filter, given the rest of the
                            // arguments (the first node is the name, since positional arguments come first), on each item.
                            if (mapArgs[0] is not StringValue filterName)
                            {
                                throw Error(node, $"map takes a filter's name (a string) or attribute=..., got {mapArgs[0].AKind}");
                            }
                            var each = new FilterNode(node.Operand, filterName.Value, argNodes.Count > 1 ? argNodes.Skip(1).ToList() : null, node.Position);
                            return new ArrayValue(arr.Items.Select(item => ApplyFilter(item, each, scope)).ToList());
                        }
                        if (!kw.TryGetValue("attribute", out Value? attr))
                        {
                            throw Error(node, "map takes a filter's name (a string) or attribute=...");
                        }
                        if (AttributePathOf(attr) is not string attrPath)
                        {
                            throw Error(node, "the attribute of map must be a string or an integer");
                        }
                        if (kw.Keys.FirstOrDefault(k => k is not ("attribute" or "default")) is string unknown)
                        {
                            throw Error(node, $"map(attribute=...) takes no argument '{unknown}' (it takes attribute, default)");
                        }
                        // A none default is no default, as Jinja2's attribute getter takes it.
                        Value? fallback = kw.GetValueOrDefault("default") is { } given and not NullValue ? given : null;
                        return new ArrayValue(arr.Items.Select(item =>
                        {
                            // Any item: what it lacks (a number has no attributes) is undefined, or the default.
                            Value v = Builtins.AttributePath(item, attrPath);
                            return v is UndefinedValue ? fallback ?? UndefinedValue.Instance : v;
                        }).ToList());
                    }
                }
                throw Unsupported();
            case ObjectValue obj:
            {
                if (Builtins.ObjectMethod(obj, name) is FunctionValue fn)
                {
                    (List<Value> args, OrderedDictionary<string, Value> kw) = EvaluateArguments(argNodes, scope);
                    if (kw.Count > 0)
                    {
                        args.Add(new ObjectValue(kw, isKeywordArguments: true));
                    }
                    return fn.Invoke(args, scope, Where(node));
                }
                throw Unsupported();
            }
            default:
                throw Unsupported();
        }
    }

    /// <summary>
    /// Jinja2's <c>int(default=0, base=10)</c> and <c>float(default=0.0)</c>: Python's int(value, base) of a string
    /// (<see cref="PyInt"/>), else int(float(value)), truncated toward zero; float(value) (<see cref="PyFloat"/> for a
    /// string); the default where Python raises TypeError or ValueError, so for none, a list or a mapping too. Undefined
    /// is refused (Jinja2 raises UndefinedError), and so is int of an infinity (OverflowError) and an integer past what
    /// the renderer holds exactly. A base that is not an integer is no base: int() raises and float() is read, as in
    /// Python.
    /// </summary>
    private Value NumberFilter(string name, Value operand, Value? fallback, Value numberBase, FilterNode node)
    {
        Value Default() => fallback ?? (name == "int" ? new IntegerValue(0) : new FloatValue(0));
        if (operand is UndefinedValue)
        {
            throw Error(node, $"filter '{name}' is not supported on an undefined value");
        }
        if (name == "float")
        {
            return operand switch
            {
                StringValue s => PyFloat.Parse(s.Value) is double f ? new FloatValue(f) : Default(),
                IntegerValue or FloatValue or BooleanValue => new FloatValue(Values.ToDouble(operand)),
                _ => Default(),
            };
        }
        if (operand is StringValue text)
        {
            long? radix = numberBase switch
            {
                IntegerValue i => i.Value,
                BooleanValue b => b.Value ? 1 : 0,
                _ => null,
            };
            if (radix is long r && PyInt.Parse(text.Value, r) is BigInteger exact)
            {
                return BigInteger.Abs(exact) <= new BigInteger(Values.MaxSafeInteger) ? new IntegerValue((long)exact)
                    : throw Error(node, $"int of '{text.Value}' is {exact}, beyond ±(2^53 - 1), the integers the renderer holds exactly");
            }
            // Python's int(float(text)): nan and infinities (OverflowError, caught here) give the default.
            return PyFloat.Parse(text.Value) is double f && double.IsFinite(f) ? Truncated(f, node) : Default();
        }
        return operand switch
        {
            IntegerValue => operand,
            BooleanValue b => new IntegerValue(b.Value ? 1 : 0),
            FloatValue f when double.IsNaN(f.Value) => Default(),
            FloatValue f => Truncated(f.Value, node),
            _ => Default(),
        };
    }

    // Python's int(float): toward zero; an infinity raises OverflowError, which the int filter lets through.
    private Value Truncated(double value, FilterNode node) => double.IsInfinity(value)
        ? throw Error(node, FormattableString.Invariant($"int of {PyText.Float(value)}: Python cannot convert float infinity to integer"))
        : Values.Number(Math.Truncate(value), false, Where(node));

    /// <summary>
    /// Jinja2's <c>unique(case_sensitive=False, attribute=None)</c> over what Python iterates: a list's items, a string's
    /// characters, a mapping's keys, nothing for undefined (the renderer refused all but a list).
    /// </summary>
    private ArrayValue UniqueFilter(Value operand, Value caseSensitive, Value attribute, FilterNode node)
    {
        List<Value> items = Iterated(operand, node);
        // case_sensitive is taken by its truth, as Python's `if not case_sensitive`.
        if (attribute is not (StringValue or IntegerValue or NullValue))
        {
            throw Error(node, $"unique takes attribute as a string or integer, got {attribute.AKind}");
        }
        return new ArrayValue(Builtins.Unique(items, caseSensitive.IsTrue, AttributePathOf(attribute), Where(node)));
    }

    /// <summary>
    /// Jinja2's <c>trim(chars=None)</c>: <c>str(value).strip(chars)</c> of a string, undefined (nothing) or a number or
    /// boolean (its Python text); without characters the whitespace the reference removes (JavaScript's, as
    /// <c>strip()</c> here), with them any of those characters (code points) at either end. None, a list and a mapping
    /// stay refused, as the reference refuses them (Python writes None and the list's text): a template that trims a
    /// tool call's none content fails, so the formatter gives it empty text, as vLLM's prompts have it.
    /// </summary>
    private StringValue Trimmed(Value operand, Value chars, FilterNode node)
    {
        string text = operand is StringValue or UndefinedValue or IntegerValue or FloatValue or BooleanValue ? PyText.Str(operand, Where(node))
            : throw Error(node, $"filter 'trim{(node.Arguments is null ? "" : "(...)")}' is not supported on {operand.AKind}");
        if (chars is NullValue)
        {
            return new StringValue(JsText.Trim(text));
        }
        if (chars is not StringValue set)
        {
            throw Error(node, $"trim takes the characters to remove (a string or none), got {chars.AKind}");
        }
        var remove = new HashSet<string>(Builtins.CodePoints(set.Value), StringComparer.Ordinal);
        List<string> characters = Builtins.CodePoints(text);
        int start = 0, end = characters.Count;
        while (start < end && remove.Contains(characters[start]))
        {
            start++;
        }
        while (end > start && remove.Contains(characters[end - 1]))
        {
            end--;
        }
        return new StringValue(string.Concat(characters.Skip(start).Take(end - start)));
    }

    // The path an attribute argument names (a string, or an integer as its digits, as Jinja2 reads it); null for none.
    private static string? AttributePathOf(Value attribute) => attribute switch
    {
        StringValue s => s.Value,
        IntegerValue i => JsText.Number(i.Value),
        _ => null,
    };

    private List<Value> Iterated(Value operand, FilterNode node)
    {
        List<Value> items = PythonIterated(operand) ?? throw Error(node, $"filter '{node.Name}' is not supported on {operand.AKind}");
        if (operand is not StringValue)
        {
            // Each item a filter reads of a list or mapping is a step of the budget: one evaluation of a sort of
            // 100,000 items does 100,000 items' work, and a loop of as many sorts ran for hours within the
            // evaluations counted. A string's characters are not counted, so a long message's text stays usable.
            Steps(items.Count, node);
        }
        return items;
    }

    // What Python iterates: a list's items, a string's characters, a mapping's keys, nothing for undefined; null for
    // what Python cannot iterate.
    private static List<Value>? PythonIterated(Value operand) => operand switch
    {
        ArrayValue a => a.Items,
        StringValue s => Builtins.CodePoints(s.Value).Select(c => (Value)new StringValue(c)).ToList(),
        // A Markup iterates as the str it is: plain characters.
        MarkupValue m => Builtins.CodePoints(m.Text).Select(c => (Value)new StringValue(c)).ToList(),
        ObjectValue o => o.Map.Keys.Select(k => (Value)new StringValue(k)).ToList(),
        UndefinedValue => [],
        _ => null,
    };

    /// <summary>
    /// Jinja2's <c>sum(attribute=None, start=0)</c>: Python's <c>sum()</c> of what the operand iterates (each item's
    /// attribute, if given) from start. Numbers and booleans add as Python's: integers exactly, and from the first float
    /// on, left to right as doubles (Python 3.11's sum; 3.12 compensates a float sum's rounding); a list or tuple start
    /// concatenates lists or tuples. What Python refuses is refused: a string (sum cannot add text), none, an undefined
    /// attribute, an integer result past ±(2^53 - 1).
    /// </summary>
    private Value SumFilter(Value operand, Value attribute, Value start, FilterNode node)
    {
        if (attribute is not (StringValue or IntegerValue or NullValue))
        {
            throw Error(node, $"sum takes attribute as a string or integer, got {attribute.AKind}");
        }
        if (start is StringValue)
        {
            throw Error(node, "sum of a string: Python's sum() cannot add text (join it)");
        }
        List<Value> items = Iterated(operand, node);
        if (AttributePathOf(attribute) is string path)
        {
            items = items.Select(item => Builtins.AttributePath(item, path)).ToList();
        }
        if (items.Count == 0)
        {
            return start;
        }
        ChatTemplateException Cannot(Value v, string to) => Error(node, $"sum of {v.AKind}: Python cannot add it to {to}");
        if (start is ArrayValue seq)
        {
            var joined = new List<Value>(seq.Items);
            foreach (Value item in items)
            {
                joined.AddRange(item is ArrayValue part && part.IsTuple == seq.IsTuple ? part.Items : throw Cannot(item, seq.IsTuple ? "a tuple" : "a list"));
            }
            return new ArrayValue(joined, seq.IsTuple);
        }
        if (start is not (IntegerValue or FloatValue or BooleanValue))
        {
            throw Cannot(items[0], start.AKind);
        }
        Int128 exact = start is FloatValue ? 0 : (long)Values.ToDouble(start);
        double? inexact = start is FloatValue f ? f.Value : null;
        foreach (Value item in items)
        {
            switch (item)
            {
                case FloatValue x:
                    inexact = (inexact ?? (double)exact) + x.Value;
                    break;
                case IntegerValue or BooleanValue when inexact is double d:
                    inexact = d + Values.ToDouble(item);
                    break;
                case IntegerValue or BooleanValue:
                    exact += (long)Values.ToDouble(item);
                    break;
                default:
                    throw Cannot(item, "a number");
            }
        }
        if (inexact is double sum)
        {
            return new FloatValue(sum);
        }
        return exact <= (Int128)Values.MaxSafeInteger && exact >= -(Int128)Values.MaxSafeInteger ? new IntegerValue((long)exact)
            : throw Error(node, $"sum is {exact}, beyond ±(2^53 - 1), the integers the renderer holds exactly");
    }
}
