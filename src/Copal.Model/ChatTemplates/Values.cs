using System.Runtime.CompilerServices;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>A value while a template runs. The kinds and their behaviour follow @huggingface/jinja's runtime values.</summary>
internal abstract class Value
{
    /// <summary>The kind's name in error messages.</summary>
    public abstract string Kind { get; }

    /// <summary>The kind with its article, for messages: "an integer", "a string".</summary>
    public string AKind => ("aeiou".Contains(Kind[0], StringComparison.Ordinal) ? "an " : "a ") + Kind;

    /// <summary>Python-style truth: empty strings, lists and mappings, zero, none and undefined are false.</summary>
    public abstract bool IsTrue { get; }
}

internal sealed class UndefinedValue : Value
{
    public static readonly UndefinedValue Instance = new();
    public override string Kind => "undefined";
    public override bool IsTrue => false;
}

internal sealed class NullValue : Value
{
    public static readonly NullValue Instance = new();
    public override string Kind => "none";
    public override bool IsTrue => false;
}

internal sealed class BooleanValue(bool value) : Value
{
    public static readonly BooleanValue True = new(true);
    public static readonly BooleanValue False = new(false);
    public bool Value { get; } = value;
    public override string Kind => "boolean";
    public override bool IsTrue => Value;
    public static BooleanValue Of(bool b) => b ? True : False;
}

/// <summary>An integer; like the reference (JavaScript numbers) only values within ±(2^53 − 1) are exact, beyond is refused.</summary>
internal sealed class IntegerValue(long value) : Value
{
    public long Value { get; } = value;
    public override string Kind => "integer";
    public override bool IsTrue => Value != 0;
}

internal sealed class FloatValue(double value) : Value
{
    public double Value { get; } = value;
    public override string Kind => "float";
    public override bool IsTrue => Value != 0 && !double.IsNaN(Value);
}

internal sealed class StringValue(string value) : Value
{
    public static readonly StringValue Empty = new("");
    public string Value { get; } = value;
    public override string Kind => "string";
    public override bool IsTrue => Value.Length > 0;
}

/// <summary>A list; <see cref="IsTuple"/> for a parenthesized tuple literal (the reference treats those differently in places).</summary>
internal sealed class ArrayValue(List<Value> items, bool isTuple = false, string[]? fieldNames = null) : Value
{
    public List<Value> Items { get; } = items;
    public bool IsTuple { get; } = isTuple;
    /// <summary>The names of a named tuple's items (groupby's grouper and list), read as attributes; null for others.</summary>
    public string[]? FieldNames { get; } = fieldNames;
    public override string Kind => IsTuple ? "tuple" : "list";
    public override bool IsTrue => Items.Count > 0;
}

/// <summary>A mapping with insertion-ordered string keys; <see cref="IsKeywordArguments"/> for the keyword arguments of a call.</summary>
internal sealed class ObjectValue(OrderedDictionary<string, Value> map, bool isKeywordArguments = false) : Value
{
    public OrderedDictionary<string, Value> Map { get; } = map;
    public bool IsKeywordArguments { get; } = isKeywordArguments;
    public override string Kind => IsKeywordArguments ? "keyword arguments" : "mapping";
    public override bool IsTrue => Map.Count > 0;
}

/// <summary>The result of <c>namespace(...)</c>: attributes that <c>set ns.x = ...</c> may change from inside loops.</summary>
internal sealed class NamespaceValue(OrderedDictionary<string, Value> map) : Value
{
    public OrderedDictionary<string, Value> Map { get; } = map;
    public override string Kind => "namespace";
    public override bool IsTrue => true;
}

/// <summary>
/// <c>loop</c> in a for loop's body, Jinja2's <c>LoopContext</c>: its attributes (<c>index</c>, <c>first</c>,
/// <c>cycle</c>, ...) and nothing else; no mapping, not written as text (Python writes <c>&lt;LoopContext 1/2&gt;</c>).
/// </summary>
internal sealed class LoopValue(OrderedDictionary<string, Value> attributes) : Value
{
    public OrderedDictionary<string, Value> Attributes { get; } = attributes;
    public override string Kind => "loop";
    public override bool IsTrue => true;

    /// <summary>The refusal of writing the loop itself, with the text Python writes.</summary>
    public ChatTemplateException CannotWrite(Func<string> where) => new(
        $"chat template {where()}: the for loop's 'loop' itself cannot be written as text (Python writes <LoopContext {PyText.Str(Attributes["index"], where)}/{PyText.Str(Attributes["length"], where)}>; write loop.index or another attribute)");
}

// where: Names the call's position in errors.
internal delegate Value Callable(List<Value> args, Scope caller, Func<string> where);

internal sealed class FunctionValue(string name, Callable invoke, bool isMacro = false) : Value
{
    public string Name { get; } = name;
    public Callable Invoke { get; } = invoke;

    /// <summary>A template's macro (or a call block's caller): what a call block may call.</summary>
    public bool IsMacro { get; } = isMacro;
    public override string Kind => "function";
    public override bool IsTrue => true;
}

/// <summary>Conversions between values and text: Python's printing and equality, JavaScript's rules where Copal follows the reference.</summary>
internal static class Values
{
    public const double MaxSafeInteger = 9007199254740991;

    /// <summary>A number as the reference types it: integral values are integers, others floats.</summary>
    public static Value Number(double v, bool asFloat, Func<string> where)
    {
        if (asFloat)
        {
            return new FloatValue(v);
        }
        if (double.IsNaN(v) || double.IsInfinity(v) || Math.Abs(v) > MaxSafeInteger || v != Math.Floor(v))
        {
            throw new ChatTemplateException($"chat template {where()}: integer result {JsText.Number(v)} is not an exact integer");
        }
        return new IntegerValue((long)v);
    }

    /// <summary>What <c>{{ value }}</c> writes: Python's <c>str()</c>, as Jinja2 writes it (<see cref="PyText"/>).</summary>
    public static string Render(Value v, Func<string> where) => PyText.Str(v, where);

    /// <summary>
    /// What <c>+</c> concatenates to a string, where Python refuses: JavaScript's <c>value.toString()</c>, as the
    /// reference writes it (a list's items joined by ","), except a mapping, which is its JSON text (tojson's default)
    /// where the reference writes "[object Map]". DeepSeek V3's and R1's templates add a tool call's arguments to a
    /// string, written for OpenAI's JSON text, and are given them as a mapping (as transformers and vLLM give them, for
    /// the templates that read their items); the JSON is the text the model's own calls hold, as llama.cpp gives it.
    /// </summary>
    public static string Primitive(Value v, Func<string> where) => v switch
    {
        StringValue s => s.Value,
        IntegerValue i => JsText.Number(i.Value),
        FloatValue f => JsText.Number(f.Value),
        BooleanValue b => b.Value ? "true" : "false",
        ArrayValue a => string.Join(",", a.Items.Select(x => Render(x, where))),
        ObjectValue => Json.Write(v, new JsonOptions(null, false, null, false), 0, where),
        NamespaceValue => "[object Map]",
        _ => throw new ChatTemplateException($"chat template {where()}: cannot convert {v.AKind} to text"),
    };

    /// <summary>
    /// Python's <c>a == b</c>, as Jinja2 compares (what <c>==</c>, <c>!=</c>, <c>in</c> a list and the <c>equalto</c>
    /// test use): numbers and booleans by value (<c>true == 1</c>), strings by text, lists and mappings item by item;
    /// values of other kinds are unequal, so <c>'' == false</c> is false (JavaScript's <c>==</c> made it true and
    /// dropped the empty system turn of Llama 2's and Command-R's templates), and none is not undefined.
    /// </summary>
    public static bool PyEquals(Value a, Value b, Func<string> where, int depth = 0)
    {
        // A Markup equals the string of its text, as a str subclass does.
        (a, b) = (MarkupValue.Unwrap(a), MarkupValue.Unwrap(b));
        switch (a, b)
        {
            case (NullValue, NullValue) or (UndefinedValue, UndefinedValue):
                return true;
            case (StringValue x, StringValue y):
                return x.Value == y.Value;
        }
        if (IsNumeric(a) && IsNumeric(b))
        {
            return ToDouble(a) == ToDouble(b);
        }
        if (a is ArrayValue or ObjectValue && b is ArrayValue or ObjectValue)
        {
            if (!RuntimeHelpers.TryEnsureSufficientExecutionStack() || depth >= Json.MaxDepth)
            {
                throw new ChatTemplateException(FormattableString.Invariant($"chat template {where()}: {a.AKind} nested deeper than {Json.MaxDepth} levels cannot be compared"));
            }
        }
        switch (a, b)
        {
            case (ArrayValue x, ArrayValue y):
                return x.IsTuple == y.IsTuple && x.Items.Count == y.Items.Count
                    && x.Items.Zip(y.Items).All(p => PyEquals(p.First, p.Second, where, depth + 1));
            case (ObjectValue x, ObjectValue y):
                return x.Map.Count == y.Map.Count
                    && x.Map.All(kv => y.Map.TryGetValue(kv.Key, out Value? other) && PyEquals(kv.Value, other, where, depth + 1));
            case (NamespaceValue x, NamespaceValue y):
                return ReferenceEquals(x.Map, y.Map);
            case (FunctionValue x, FunctionValue y):
                return ReferenceEquals(x, y);
            default:
                return false;
        }
    }

    private static bool IsNumeric(Value v) => v is IntegerValue or FloatValue or BooleanValue;

    public static bool IsNumber(Value v) => v is IntegerValue or FloatValue;

    public static double ToDouble(Value v) => v switch
    {
        IntegerValue i => i.Value,
        FloatValue f => f.Value,
        BooleanValue b => b.Value ? 1 : 0,
        _ => double.NaN,
    };
}

internal sealed record JsonOptions(int? Indent, bool EnsureAscii, (string Item, string Key)? Separators, bool SortKeys);

/// <summary>The reference's <c>tojson</c>: Python <c>json.dumps</c> layout (", " and ": ", or "," and newlines with indent), keys in insertion order, non-ASCII kept.</summary>
internal static class Json
{
    /// <summary>
    /// How deeply lists and mappings may nest where they are written (as text, JSON, or joined): the writer recurses
    /// once a level, and a value nested once a loop iteration would otherwise overflow the stack and kill the process.
    /// Python's json.dumps stops near the same depth (its recursion limit); real tool schemas nest a few levels.
    /// </summary>
    public const int MaxDepth = 1000;

    /// <summary>The render's size budget (<see cref="Interpreter.MaxLength"/>), checked after each element: a list of 200 references to one long string is refused, not written out.</summary>
    private static void Bound(StringBuilder sb, Value v, Func<string> where)
    {
        if (sb.Length > Interpreter.MaxLength)
        {
            throw new ChatTemplateException(FormattableString.Invariant($"chat template {where()}: the JSON of {v.AKind} grows past {Interpreter.MaxLength} characters"));
        }
    }

    public static string Write(Value v, JsonOptions options, int depth, Func<string> where)
    {
        var sb = new StringBuilder();
        Write(sb, v, options, depth, where);
        return sb.ToString();
    }

    private static readonly Comparer<string> s_byCodePoint = Comparer<string>.Create(PyStr.CompareByCodePoint);

    private static void Write(StringBuilder sb, Value v, JsonOptions o, int depth, Func<string> where)
    {
        (string item, string key) = o.Separators ?? (o.Indent is > 0 ? (",", ": ") : (", ", ": "));
        switch (v)
        {
            case NullValue:
                sb.Append("null");
                return;
            case UndefinedValue:
                // Python's json.dumps, which transformers' tojson calls, refuses Jinja2's Undefined (the reference
                // wrote null).
                throw new ChatTemplateException($"chat template {where()}: an undefined value cannot be written as JSON (Python's json.dumps refuses it)");
            case IntegerValue i:
                sb.Append(JsText.Number(i.Value));
                return;
            case FloatValue f:
                // json.dumps keeps a whole float's ".0" (a tool schema's "maximum": 1.0), as Python transformers writes it.
                sb.Append(PyText.JsonFloat(f.Value));
                return;
            case BooleanValue b:
                sb.Append(b.Value ? "true" : "false");
                return;
            case StringValue s:
                JsText.JsonString(sb, s.Value, o.EnsureAscii);
                return;
            case MarkupValue m:
                JsText.JsonString(sb, m.Text, o.EnsureAscii);
                return;
        }
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            throw new ChatTemplateException($"chat template {where()}: the template nests too deeply for the stack to write {v.AKind} (macros recursing through deep expressions?)");
        }
        if (depth >= MaxDepth)
        {
            throw new ChatTemplateException(FormattableString.Invariant($"chat template {where()}: {v.AKind} nested deeper than {MaxDepth} levels cannot be written (a value nested in a loop?)"));
        }
        if ((long)(o.Indent ?? 0) * (depth + 1) > Interpreter.MaxLength)
        {
            throw new ChatTemplateException(FormattableString.Invariant($"chat template {where()}: JSON indented by {o.Indent} at depth {depth + 1} grows past {Interpreter.MaxLength} characters"));
        }
        string indent = o.Indent is > 0 ? new string(' ', o.Indent.Value) : "";
        string basePad = "\n" + string.Concat(Enumerable.Repeat(indent, depth));
        string childPad = basePad + indent;
        bool pretty = o.Indent is > 0;
        // A tuple too (a pair of items or dictsort), as json.dumps writes one.
        if (v is ArrayValue a)
        {
            sb.Append('[');
            for (int n = 0; n < a.Items.Count; n++)
            {
                sb.Append(n > 0 ? item : "");
                if (pretty)
                {
                    sb.Append(childPad);
                }
                Write(sb, a.Items[n], o, depth + 1, where);
                Bound(sb, v, where);
            }
            if (pretty && a.Items.Count > 0)
            {
                sb.Append(basePad);
            }
            sb.Append(']');
            return;
        }
        OrderedDictionary<string, Value>? map = v switch
        {
            ObjectValue { IsKeywordArguments: false } obj => obj.Map,
            NamespaceValue ns => ns.Map,
            _ => null,
        };
        if (map is null)
        {
            throw new ChatTemplateException($"chat template {where()}: cannot convert {v.AKind} to JSON");
        }
        // sort_keys: json.dumps sorts the keys as Python orders strings, by code point.
        IEnumerable<KeyValuePair<string, Value>> entries = o.SortKeys ? map.OrderBy(kv => kv.Key, s_byCodePoint) : map;
        sb.Append('{');
        bool firstEntry = true;
        foreach ((string k, Value value) in entries)
        {
            sb.Append(firstEntry ? "" : item);
            firstEntry = false;
            if (pretty)
            {
                sb.Append(childPad);
            }
            JsText.JsonString(sb, k, o.EnsureAscii);
            sb.Append(key);
            Write(sb, value, o, depth + 1, where);
            Bound(sb, v, where);
        }
        if (pretty && map.Count > 0)
        {
            sb.Append(basePad);
        }
        sb.Append('}');
    }
}
