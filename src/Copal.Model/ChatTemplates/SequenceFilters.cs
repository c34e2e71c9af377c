namespace Copal.Model.ChatTemplates;

/// <summary>
/// Jinja2's <c>groupby(attribute, default=None, case_sensitive=False)</c>, <c>batch(linecount, fill_with=None)</c> and
/// <c>slice(slices, fill_with=None)</c>, which the reference lacks, over what Python iterates. <c>groupby</c> sorts the
/// items by their attribute (Python's sorted, so keys Python cannot order are refused) and groups equal neighbours, each
/// group a named tuple <c>(grouper, list)</c>; <c>batch</c> and <c>slice</c> give lists (Jinja2's generators, as the
/// renderer's <c>select</c> and <c>map</c> give lists).
/// </summary>
internal sealed partial class Interpreter
{
    private static readonly string[] s_groupFields = ["grouper", "list"];

    private ArrayValue GroupBy(Value operand, Value attribute, Value fallback, Value caseSensitive, FilterNode node)
    {
        if (AttributePathOf(attribute) is not string path)
        {
            throw Error(node, $"groupby takes attribute as a string or integer, got {attribute.AKind}");
        }
        List<Value> items = Iterated(operand, node);
        Value Grouper(Value item)
        {
            // Jinja2's attribute getter puts the default in for each part it misses, and goes on reading from it
            // ('a.b' with default={'b': 5} is 5); with no default Python raises or prints Undefined.
            Value v = item;
            foreach (string part in path.Split('.'))
            {
                v = Builtins.AttributePath(v, part);
                v = v is UndefinedValue && fallback is not NullValue ? fallback : v;
            }
            return v is UndefinedValue ? throw Error(node, $"groupby: an item has no attribute '{path}'") : v;
        }
        // case_sensitive by its truth: keys are strings lowered unless it holds; the grouper is the first item's own.
        Value Key(Value item) => !caseSensitive.IsTrue && MarkupValue.Unwrap(Grouper(item)) is StringValue s ? new StringValue(JsCase.Lower(s.Value)) : Grouper(item);
        List<Value> sorted = Builtins.StableSort(items, Key, caseSensitive: true, reverse: false, keysAreWrapped: false, Where(node));
        var groups = new List<Value>();
        var current = new List<Value>();
        Value? currentKey = null;
        foreach (Value item in sorted)
        {
            // Each item is a step of the render's budget, as each slice is: a groupby of 100,000 items in a loop of
            // as many ran for days within the evaluations counted. Iterated counted a list's or mapping's items
            // already (counting them again halved the budget); a string's characters are counted here.
            StepPerCharacter(operand, node);
            Value key = Key(item);
            if (currentKey is not null && !Values.PyEquals(currentKey, key, Where(node)))
            {
                groups.Add(Group(current));
                current = [];
            }
            currentKey = key;
            current.Add(item);
        }
        if (current.Count > 0)
        {
            groups.Add(Group(current));
        }
        return new ArrayValue(groups);

        ArrayValue Group(List<Value> members) => new([Grouper(members[0]), new ArrayValue(members)], isTuple: true, s_groupFields);
    }

    // Jinja2's batch: lists of linecount items, the last filled up to linecount with fill_with unless it is none.
    private ArrayValue Batch(Value operand, Value lineCount, Value fillWith, FilterNode node)
    {
        long count = lineCount is IntegerValue or BooleanValue ? (long)Values.ToDouble(lineCount)
            : throw Error(node, $"batch takes linecount as an integer, got {lineCount.AKind}");
        var batches = new List<Value>();
        var current = new List<Value>();
        foreach (Value item in Iterated(operand, node))
        {
            StepPerCharacter(operand, node);
            if (current.Count == count)
            {
                batches.Add(new ArrayValue(current));
                current = [];
            }
            current.Add(item);
        }
        if (current.Count > 0)
        {
            if (fillWith is not NullValue && current.Count < count)
            {
                RequireItems(count, node, "batch");
                current.AddRange(Enumerable.Repeat(fillWith, (int)(count - current.Count)));
            }
            batches.Add(new ArrayValue(current));
        }
        return new ArrayValue(batches);
    }

    // Jinja2's slice: the items in `slices` lists, the first length % slices one longer; the shorter ones get fill_with
    // at the end unless it is none. Python's floor division: no slices for a negative count, zero refused.
    private ArrayValue Slice(Value operand, Value slices, Value fillWith, FilterNode node)
    {
        long n = slices is IntegerValue or BooleanValue ? (long)Values.ToDouble(slices)
            : throw Error(node, $"slice takes slices as an integer, got {slices.AKind}");
        if (n == 0)
        {
            throw Error(node, "slice(0): integer division or modulo by zero");
        }
        List<Value> items = Iterated(operand, node);
        RequireItems(n, node, "slice");
        long perSlice = (long)Math.Floor((double)items.Count / n);
        long withExtra = items.Count - (perSlice * n);
        var result = new List<Value>();
        long offset = 0;
        for (long i = 0; i < n; i++)
        {
            long start = offset + (i * perSlice);
            if (i < withExtra)
            {
                offset++;
            }
            long end = offset + ((i + 1) * perSlice);
            List<Value> part = items.Skip((int)start).Take((int)Math.Max(0, end - start)).ToList();
            if (fillWith is not NullValue && i >= withExtra)
            {
                part.Add(fillWith);
            }
            result.Add(new ArrayValue(part));
            // Each slice is a step of the render's budget: slice(10**7) of a short list builds ten million lists.
            Step(node);
        }
        return new ArrayValue(result);
    }

    // A step for an item of a string, whose characters Iterated does not count (it counts the items of the rest).
    private void StepPerCharacter(Value operand, Node node)
    {
        if (operand is StringValue)
        {
            Step(node);
        }
    }

    private void RequireItems(long count, Node node, string what)
    {
        if (count > MaxLength)
        {
            throw Error(node, FormattableString.Invariant($"{what} would make a list of {count} items, past {MaxLength}"));
        }
    }
}
