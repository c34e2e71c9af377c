namespace Copal.Model.ChatTemplates;

/// <summary>
/// The unary and binary operators and chained comparisons: arithmetic, <c>~</c>, <c>in</c>, and comparisons by Python's
/// rules where Copal follows Jinja2 (<c>==</c>, booleans as integers, chains), the reference's elsewhere (<c>+</c> of a
/// string and a number, <c>%</c> of negative numbers).
/// </summary>
internal sealed partial class Interpreter
{
    private Value EvaluateUnary(UnaryNode node, Scope scope)
    {
        Value v = Evaluate(node.Operand, scope);
        switch (node.Operator)
        {
            case "not":
                return BooleanValue.Of(!v.IsTrue);
            case "-" or "+":
            {
                int sign = node.Operator == "-" ? -1 : 1;
                return v switch
                {
                    IntegerValue i => new IntegerValue(sign * i.Value),
                    FloatValue f => new FloatValue(sign * f.Value),
                    BooleanValue b => new IntegerValue(sign * (b.Value ? 1 : 0)),
                    _ => throw Error(node, $"unary '{node.Operator}' is not defined for {v.AKind}"),
                };
            }
            default:
                throw Error(node, $"unknown operator '{node.Operator}'");
        }
    }

    private Value EvaluateBinary(BinaryNode node, Scope scope)
    {
        Value left = Evaluate(node.Left, scope);
        string op = node.Operator;
        if (op == "and")
        {
            return left.IsTrue ? Evaluate(node.Right, scope) : left;
        }
        if (op == "or")
        {
            return left.IsTrue ? left : Evaluate(node.Right, scope);
        }
        return Operate(node, left, Evaluate(node.Right, scope));
    }

    // Python's chained comparison: a < b <= c is (a < b) and (b <= c), b evaluated once and c only when a < b holds.
    private Value EvaluateChain(ComparisonChainNode node, Scope scope)
    {
        (Node leftNode, Value left) = (node.First, Evaluate(node.First, scope));
        Value result = BooleanValue.True;
        foreach ((string op, Node operand, int position) in node.Links)
        {
            Value right = Evaluate(operand, scope);
            result = Operate(new BinaryNode(op, leftNode, operand, position), left, right);
            if (!result.IsTrue)
            {
                break;
            }
            (leftNode, left) = (operand, right);
        }
        return result;
    }

    private static bool Hashable(Value v) => v switch
    {
        ArrayValue { IsTuple: true } tuple => tuple.Items.All(Hashable),
        ArrayValue or ObjectValue => false,
        _ => true,
    };

    // A binary operator other than and/or on its operands' values; node names the operator's position and operands.
    private Value Operate(BinaryNode node, Value left, Value right)
    {
        string op = node.Operator;
        Func<string> where = Where(node);
        if (op == "==")
        {
            return BooleanValue.Of(Values.PyEquals(left, right, where));
        }
        if (op == "!=")
        {
            return BooleanValue.Of(!Values.PyEquals(left, right, where));
        }
        if (op != "~" && MarkupOperate(node, left, right) is Value markupResult)
        {
            return markupResult;
        }
        if (right is ArrayValue list && op is "in" or "not in")
        {
            // Membership by Python's ==, so a list may be found in a list of lists, none in a list, and an undefined
            // value only where the list holds one (Jinja2's Undefined equals only an Undefined).
            bool member = list.Items.Any(x => Values.PyEquals(x, left, where));
            return BooleanValue.Of(op == "in" ? member : !member);
        }
        if (right is ObjectValue { IsKeywordArguments: false } && op is "in" or "not in" && left is not StringValue)
        {
            // Python's dict lookup: a number, boolean, none, tuple or undefined value is never one of a mapping's string
            // keys (1 is not '1'); a list or mapping, also inside a tuple, cannot be hashed (TypeError).
            if (!Hashable(left))
            {
                throw Error(node, $"operator '{op}' cannot look {left.AKind} up in a mapping (Python's TypeError: unhashable)");
            }
            return BooleanValue.Of(op == "not in");
        }
        if (op == "%" && left is StringValue format)
        {
            // Python's printf-style formatting, as Jinja2 evaluates it (none, undefined and a mapping on the right too).
            return new StringValue(PyPercentFormat.Format(format.Value, right, where));
        }
        if (op == "~")
        {
            // Python's str() of each side, as Jinja2 concatenates: 'x' ~ 1.0 is x1.0, 'x' ~ true is xTrue, 'x' ~ none
            // is xNone and an undefined side nothing (the reference refused none and undefined).
            return new StringValue(Values.Render(left, where) + Values.Render(right, where));
        }
        if (left is UndefinedValue || right is UndefinedValue)
        {
            if (right is UndefinedValue && op is "in" or "not in")
            {
                return BooleanValue.Of(op == "not in");
            }
            throw Error(node, $"operator '{op}' on an undefined value{UndefinedName(left is UndefinedValue ? node.Left : node.Right)}");
        }
        if (left is NullValue || right is NullValue)
        {
            throw Error(node, $"operator '{op}' on a none value");
        }
        if (op is "<" or ">" or "<=" or ">=")
        {
            // Python's order: numbers, strings by code point, lists with lists and tuples with tuples item by item.
            return BooleanValue.Of(PyOrder.Holds(op, left, right, where,
                (a, b) => Error(node, $"operator '{op}' is not defined between {a.AKind} and {b.AKind}")));
        }
        bool leftNumeric = left is IntegerValue or FloatValue or BooleanValue;
        bool rightNumeric = right is IntegerValue or FloatValue or BooleanValue;
        if (op == "**" && leftNumeric && rightNumeric)
        {
            double a = Values.ToDouble(left), b = Values.ToDouble(right);
            if (a == 0 && b < 0)
            {
                throw Error(node, "0.0 cannot be raised to a negative power");
            }
            double r = Math.Pow(a, b);
            if (!double.IsFinite(r))
            {
                throw Error(node, "the power is not a finite real number");
            }
            return Values.Number(r, left is FloatValue || right is FloatValue || b < 0, where);
        }
        // Python's bool is an int: true + 1 is 2 and true < 2 (the reference refused booleans here).
        if (leftNumeric && rightNumeric)
        {
            double a = Values.ToDouble(left), b = Values.ToDouble(right);
            bool isFloat = left is FloatValue || right is FloatValue;
            switch (op)
            {
                case "+": return Values.Number(a + b, isFloat, where);
                case "-": return Values.Number(a - b, isFloat, where);
                case "*": return Values.Number(a * b, isFloat, where);
                case "/":
                    if (b == 0)
                    {
                        throw Error(node, "division by zero");
                    }
                    return new FloatValue(a / b);
                case "//":
                    if (b == 0)
                    {
                        throw Error(node, "division by zero");
                    }
                    return Values.Number(Math.Floor(a / b), isFloat, where);
                case "%":
                    if (b == 0)
                    {
                        throw Error(node, "modulo by zero");
                    }
                    return Values.Number(a % b, isFloat, where);
            }
        }
        else if (left is ArrayValue la && right is ArrayValue ra)
        {
            // A list to a list, a tuple to a tuple, as Python adds them (it refuses a list and a tuple).
            if (op == "+" && la.IsTuple == ra.IsTuple)
            {
                return new ArrayValue([.. la.Items, .. ra.Items], la.IsTuple);
            }
        }
        if (op == "*" && (left is StringValue or ArrayValue ? (left, right) : (right, left)) is (StringValue or ArrayValue, IntegerValue or BooleanValue) and var (sequence, times))
        {
            // Repetition, as in Jinja2 ('-' * 3 is '---', [0] * 3 is [0, 0, 0], (1, 2) * 2 a tuple, the count on either
            // side; empty for a count below 1; a boolean is the integer it is), which the reference refuses.
            long count = Math.Max(0, (long)Values.ToDouble(times));
            if (sequence is StringValue { Value.Length: 0 } or ArrayValue { Items.Count: 0 })
            {
                count = 0;
            }
            if (sequence is StringValue text)
            {
                RequireLength((long)Math.Min((double)text.Value.Length * count, long.MaxValue), node, "'*'");
                return new StringValue(string.Concat(Enumerable.Repeat(text.Value, (int)Math.Min(count, MaxLength))));
            }
            var repeated = (ArrayValue)sequence;
            if ((double)repeated.Items.Count * count > MaxLength)
            {
                throw Error(node, FormattableString.Invariant($"'*' would make {repeated.AKind} of {(double)repeated.Items.Count * count} items, past {MaxLength}"));
            }
            var items = new List<Value>(repeated.Items.Count * (int)count);
            for (long i = 0; i < count; i++)
            {
                items.AddRange(repeated.Items);
            }
            return new ArrayValue(items, repeated.IsTuple);
        }
        if ((left is StringValue || right is StringValue) && op == "+")
        {
            return new StringValue(Values.Primitive(left, where) + Values.Primitive(right, where));
        }
        if (left is StringValue ls && right is StringValue rs && op is "in" or "not in")
        {
            bool contains = rs.Value.Contains(ls.Value, StringComparison.Ordinal);
            return BooleanValue.Of(op == "in" ? contains : !contains);
        }
        if (left is StringValue key && right is ObjectValue obj && op is "in" or "not in")
        {
            bool has = obj.Map.ContainsKey(key.Value);
            return BooleanValue.Of(op == "in" ? has : !has);
        }
        throw Error(node, $"operator '{op}' is not defined between {left.AKind} and {right.AKind}");
    }
}
