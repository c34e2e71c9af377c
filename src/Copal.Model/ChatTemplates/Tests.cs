namespace Copal.Model.ChatTemplates;

/// <summary>
/// The tests of <c>x is name</c> (and of selectattr/rejectattr, select/reject), as Jinja2 defines them (the reference's
/// <c>iterable</c>, <c>sequence</c>, <c>number</c>, <c>lower</c> and <c>upper</c> differed; it lacks <c>in</c> and <c>float</c>).
/// </summary>
internal sealed partial class Interpreter
{
    private bool ApplyTest(TestNode node, Scope scope)
    {
        if (node.Argument is null)
        {
            return s_takesArgument.Contains(node.Name)
                ? throw Error(node, $"test '{node.Name}' needs an argument")
                : TestByName(node.Name, node)(Evaluate(node.Operand, scope), null);
        }
        if (!s_takesArgument.Contains(node.Name))
        {
            throw Error(node, $"test '{node.Name}' takes no argument");
        }
        // The comparisons are Jinja2's operators (its tests call them), so they are the operators here too.
        if (s_operators.TryGetValue(node.Name, out string? op))
        {
            return EvaluateBinary(new BinaryNode(op, node.Operand, node.Argument, node.Position), scope).IsTrue;
        }
        Value operand = Evaluate(node.Operand, scope);
        return TestByName(node.Name, node)(operand, Evaluate(node.Argument, scope));
    }

    private static readonly HashSet<string> s_takesArgument = new(StringComparer.Ordinal)
    {
        "divisibleby", "sameas", "eq", "equalto", "ne", "lt", "lessthan", "le", "gt", "greaterthan", "ge", "in",
    };

    private static readonly Dictionary<string, string> s_operators = new(StringComparer.Ordinal)
    {
        ["ne"] = "!=", ["lt"] = "<", ["lessthan"] = "<", ["le"] = "<=", ["gt"] = ">", ["greaterthan"] = ">", ["ge"] = ">=",
    };

    // A Markup is tested as the string it is a subclass of, wherever a test is applied (is, select, selectattr...).
    private Func<Value, Value?, bool> TestByName(string name, Node node)
    {
        Func<Value, Value?, bool> test = PlainTestByName(name, node);
        return (v, arg) => test(MarkupValue.Unwrap(v), arg is null ? null : MarkupValue.Unwrap(arg));
    }

    private Func<Value, Value?, bool> PlainTestByName(string name, Node node) => name switch
    {
        "boolean" => (v, _) => v is BooleanValue,
        // Jinja2's Undefined defines __call__ (calling it raises), and so does its LoopContext (it raises unless the
        // loop is recursive), so Python's callable() is true for both.
        "callable" => (v, _) => v is FunctionValue or UndefinedValue or LoopValue,
        "odd" => (v, _) => v is IntegerValue i ? i.Value % 2 != 0 : throw Error(node, $"test 'odd' needs an integer, got {v.AKind}"),
        "even" => (v, _) => v is IntegerValue i ? i.Value % 2 == 0 : throw Error(node, $"test 'even' needs an integer, got {v.AKind}"),
        "false" => (v, _) => v is BooleanValue { Value: false },
        "true" => (v, _) => v is BooleanValue { Value: true },
        "none" => (v, _) => v is NullValue,
        "string" => (v, _) => v is StringValue,
        // Jinja2's: a boolean is a number (Python's bool is an int), not an integer.
        "number" => (v, _) => v is IntegerValue or FloatValue or BooleanValue,
        "integer" => (v, _) => v is IntegerValue,
        "float" => (v, _) => v is FloatValue,
        // What Python iterates, undefined included (Jinja2's Undefined iterates as nothing); the reference counted
        // lists and strings only.
        "iterable" => (v, _) => v is ArrayValue or ObjectValue or StringValue or UndefinedValue or LoopValue,
        "mapping" => (v, _) => v is ObjectValue,
        "sequence" => (v, _) => v is ArrayValue or ObjectValue or StringValue or UndefinedValue,
        // Jinja2's str(value).islower()/isupper(): a list or mapping by its text, a function or namespace, which Python
        // writes as an object's text, as neither ('123' is neither; the reference's comparison with the lowered text
        // called it both).
        "lower" => (v, _) => v is not (FunctionValue or NamespaceValue or LoopValue) && PyCase.IsLower(PyText.Str(v, Where(node))),
        "upper" => (v, _) => v is not (FunctionValue or NamespaceValue or LoopValue) && PyCase.IsUpper(PyText.Str(v, Where(node))),
        "defined" => (v, _) => v is not UndefinedValue,
        "undefined" => (v, _) => v is UndefinedValue,
        // Python's value % num == 0 (a boolean is an integer, a float is taken as it is).
        "divisibleby" => (v, arg) => arg is null ? throw Error(node, "test 'divisibleby' needs an argument")
            : v is not (IntegerValue or FloatValue or BooleanValue) || arg is not (IntegerValue or FloatValue or BooleanValue) ? throw Error(node, $"test 'divisibleby' needs numbers, got {v.AKind} and {arg.AKind}")
            : Values.ToDouble(arg) == 0 ? throw Error(node, "test 'divisibleby': modulo by zero")
            : Values.ToDouble(v) % Values.ToDouble(arg) == 0,
        // Python's identity (`is`), which a template can count on for none and booleans only: other values are
        // refused, since whether two equal numbers or strings are one object is CPython's choice.
        "sameas" => (v, arg) => (v, arg) switch
        {
            (_, null) => throw Error(node, "test 'sameas' needs an argument"),
            (NullValue, NullValue) => true,
            (BooleanValue a, BooleanValue b) => a.Value == b.Value,
            (NullValue or BooleanValue or UndefinedValue, _) or (_, NullValue or BooleanValue or UndefinedValue) => false,
            _ => throw Error(node, $"test 'sameas' is Python's identity, known here only for none and booleans, not {v.AKind} and {arg.AKind}"),
        },
        "equalto" or "eq" => (v, arg) => arg is not null ? Values.PyEquals(v, arg, Where(node))
            : throw Error(node, $"test '{name}' needs an argument"),
        // Jinja2's `value is in(seq)`, for select/reject: the `in` operator's membership.
        "in" => (v, arg) => arg switch
        {
            ArrayValue list => list.Items.Any(x => Values.PyEquals(x, v, Where(node))),
            StringValue s when v is StringValue part => s.Value.Contains(part.Value, StringComparison.Ordinal),
            ObjectValue o when v is StringValue key => o.Map.ContainsKey(key.Value),
            null => throw Error(node, "test 'in' needs an argument"),
            _ => throw Error(node, $"test 'in' is not defined between {v.AKind} and {arg.AKind}"),
        },
        _ => throw Error(node, $"test '{name}' is not supported"),
    };
}
