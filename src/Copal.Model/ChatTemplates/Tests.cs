namespace Copal.Model.ChatTemplates;

/// <summary>
/// The tests of <c>x is name</c> (and of selectattr/rejectattr, select/reject), as Jinja2 defines them (the reference's
/// <c>iterable</c>, <c>sequence</c>, <c>number</c>, <c>lower</c> and <c>upper</c> differed; it lacks <c>in</c> and <c>float</c>).
/// </summary>
internal sealed partial class Interpreter
{
    private bool ApplyTest(Value operand, TestNode node)
    {
        if (node.Name is "equalto" or "eq" or "in")
        {
            throw Error(node, $"test '{node.Name}' needs an argument, which 'is' tests cannot take here");
        }
        return TestByName(node.Name, node)(operand, null);
    }

    private Func<Value, Value?, bool> TestByName(string name, Node node) => name switch
    {
        "boolean" => (v, _) => v is BooleanValue,
        "callable" => (v, _) => v is FunctionValue,
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
        "iterable" => (v, _) => v is ArrayValue or ObjectValue or StringValue or UndefinedValue,
        "mapping" => (v, _) => v is ObjectValue,
        "sequence" => (v, _) => v is ArrayValue or ObjectValue or StringValue or UndefinedValue,
        // Jinja2's str(value).islower()/isupper(): a list or mapping by its text, a function or namespace, which Python
        // writes as an object's text, as neither ('123' is neither; the reference's comparison with the lowered text
        // called it both).
        "lower" => (v, _) => v is not (FunctionValue or NamespaceValue) && PyCase.IsLower(PyText.Str(v, Where(node))),
        "upper" => (v, _) => v is not (FunctionValue or NamespaceValue) && PyCase.IsUpper(PyText.Str(v, Where(node))),
        "defined" => (v, _) => v is not UndefinedValue,
        "undefined" => (v, _) => v is UndefinedValue,
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
