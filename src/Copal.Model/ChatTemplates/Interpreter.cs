using System.Runtime.CompilerServices;
using System.Text;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// Runs a parsed template with the semantics of @huggingface/jinja's interpreter, which is what transformers.js'
/// <c>apply_chat_template</c> renders with (none and undefined write nothing, a missing attribute is undefined,
/// operations the reference refuses are refused here too), except where docs/chat-templates.md says Copal follows
/// Python's Jinja2: values print as Python's <c>str()</c>, <c>==</c> and <c>in</c> compare as Python's, comparisons
/// chain, and what the reference lacks or misreads is Jinja2's.
/// </summary>
internal sealed partial class Interpreter
{
    private enum Jump { None, Break, Continue }

    /// <summary>Nested macro calls allowed before refusing (the reference fails on JavaScript's stack limit; .NET would crash).</summary>
    internal const int MaxCallDepth = 200;

    /// <summary>
    /// Evaluations one render may take. A real template renders a thousand-message conversation in well under a
    /// million; a loop that runs on (nested ranges) would otherwise hold a core, and in <c>serve</c> a request,
    /// for as long as it ran.
    /// </summary>
    internal const int MaxSteps = 10_000_000;

    /// <summary>
    /// Characters a string, and items a list, may reach in one render (16M, 32 MB of text): far past any model's
    /// context, and short of the gigabytes a template that doubles a value in a loop reached before it failed with
    /// an out-of-memory error.
    /// </summary>
    internal const int MaxLength = 1 << 24;

    private readonly TemplateSource _source;
    private Jump _jump;
    private int _callDepth;
    private int _steps;

    public Interpreter(TemplateSource source) => _source = source;

    public string Run(TemplateBody template, Scope globals)
    {
        string text = EvaluateBlock(template.Body, globals);
        if (_jump != Jump.None)
        {
            throw new ChatTemplateException($"chat template: '{{% {_jump.ToString().ToLowerInvariant()} %}}' outside a for loop");
        }
        return text;
    }

    private Func<string> Where(Node node) => () => _source.Where(node.Position);

    private ChatTemplateException Error(Node node, string what) => new($"chat template {_source.Where(node.Position)}: {what}");

    private string EvaluateBlock(IReadOnlyList<Node> nodes, Scope scope)
    {
        var sb = new StringBuilder();
        foreach (Node node in nodes)
        {
            Value v = Evaluate(node, scope);
            if (v is not (NullValue or UndefinedValue))
            {
                Append(sb, Values.Render(v, Where(node)), node);
            }
            if (_jump != Jump.None)
            {
                break;
            }
        }
        return sb.ToString();
    }

    /// <summary>Refuses, before it is built, a string of <paramref name="length"/> characters past <see cref="MaxLength"/>.</summary>
    private void RequireLength(long length, Node node, string what)
    {
        if (length > MaxLength)
        {
            throw Error(node, FormattableString.Invariant($"{what} would make a string of {length} characters, past {MaxLength}"));
        }
    }

    /// <summary><c>join</c>: the parts with <paramref name="separator"/> between them, refused before it is built when past <see cref="MaxLength"/>.</summary>
    private StringValue Joined(List<string> parts, string separator, Node node)
    {
        RequireLength(parts.Sum(part => (long)part.Length) + ((long)separator.Length * Math.Max(0, parts.Count - 1)), node, "join");
        return new StringValue(string.Join(separator, parts));
    }

    /// <summary>Appends a block's text, within <see cref="MaxLength"/>.</summary>
    private void Append(StringBuilder sb, string text, Node node)
    {
        if ((long)sb.Length + text.Length > MaxLength)
        {
            throw Error(node, FormattableString.Invariant($"the output grows past {MaxLength} characters (a loop that writes without end?)"));
        }
        sb.Append(text);
    }

    /// <summary>One evaluation, counted against <see cref="MaxSteps"/>, whose value is held within <see cref="MaxLength"/>.</summary>
    private Value Evaluate(Node? node, Scope scope)
    {
        if (node is not null)
        {
            Step(node);
            // Macro calls and expressions are each bounded (200 levels), but together they recurse deeper than a
            // thread-pool thread's stack holds; an overflow would kill the process, so refuse while some is left.
            if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
            {
                throw Error(node, "the template nests too deeply for the stack (macros recursing through deep expressions?)");
            }
        }
        Value value = EvaluateNode(node, scope);
        int length = value switch
        {
            StringValue str => str.Value.Length,
            ArrayValue list => list.Items.Count,
            _ => 0,
        };
        if (length > MaxLength)
        {
            throw Error(node!, FormattableString.Invariant($"{value.AKind} grows past {MaxLength} {(value is StringValue ? "characters" : "items")} (a value doubled in a loop?)"));
        }
        return value;
    }

    /// <summary>One step against <see cref="MaxSteps"/>: an evaluation, or a loop's iteration (an empty body evaluates nothing).</summary>
    private void Step(Node node) => Steps(1, node);

    /// <summary>Several steps at once against <see cref="MaxSteps"/>: the items a filter reads.</summary>
    private void Steps(int count, Node node)
    {
        _steps += count;
        if (_steps > MaxSteps)
        {
            throw Error(node, FormattableString.Invariant($"rendering takes more than {MaxSteps} steps (a loop that runs without end?)"));
        }
    }

    private Value EvaluateNode(Node? node, Scope scope)
    {
        switch (node)
        {
            case null:
                return UndefinedValue.Instance;
            case TextNode t:
                return new StringValue(t.Value);
            case CommentNode:
                return NullValue.Instance;
            case SetNode s:
                return EvaluateSet(s, scope);
            case IfNode i:
                return new StringValue(EvaluateBlock(Evaluate(i.Test, scope).IsTrue ? i.Body : i.Alternate, scope));
            case ForNode f:
                return EvaluateFor(f, scope);
            case CallBlockNode c:
                return EvaluateCallBlock(c, scope);
            case FilterBlockNode f:
            {
                // The body renders in a scope of its own, as in Jinja2 (a set in it is not seen after the block; the
                // reference rendered it in the enclosing scope), then the filters apply to its text.
                var body = new Scope(scope);
                body.Set(FilterBlockNode.BodyName, new StringValue(EvaluateBlock(f.Body, new Scope(scope))));
                return Evaluate(f.Filter, body);
            }
            case MacroNode m:
                DefineMacro(m, scope);
                return NullValue.Instance;
            case BreakNode:
                _jump = Jump.Break;
                return NullValue.Instance;
            case ContinueNode:
                _jump = Jump.Continue;
                return NullValue.Instance;
            case IntegerLiteralNode n:
                return new IntegerValue(n.Value);
            case FloatLiteralNode n:
                return new FloatValue(n.Value);
            case StringLiteralNode n:
                return new StringValue(n.Value);
            case ArrayLiteralNode a:
                return new ArrayValue(a.Items.Select(x => Evaluate(x, scope)).ToList());
            case TupleNode t:
                return new ArrayValue(t.Items.Select(x => Evaluate(x, scope)).ToList(), isTuple: true);
            case ObjectLiteralNode o:
            {
                var map = new OrderedDictionary<string, Value>(StringComparer.Ordinal);
                foreach ((Node key, Node value) in o.Entries)
                {
                    if (Evaluate(key, scope) is not StringValue k)
                    {
                        throw Error(key, "keys of a mapping literal must be strings");
                    }
                    map[k.Value] = Evaluate(value, scope);
                }
                return new ObjectValue(map);
            }
            case IdentifierNode id:
                return scope.Lookup(id.Name);
            case CallNode c:
                return EvaluateCall(c, scope);
            case MemberNode m:
                return EvaluateMember(m, scope);
            case UnaryNode u:
                return EvaluateUnary(u, scope);
            case BinaryNode b:
                return EvaluateBinary(b, scope);
            case ComparisonChainNode c:
                return EvaluateChain(c, scope);
            case FilterNode f:
                return ApplyFilter(Evaluate(f.Operand, scope), f, scope);
            case TestNode t:
            {
                bool result = ApplyTest(t, scope);
                return BooleanValue.Of(t.Negate ? !result : result);
            }
            case SelectNode s:
                return Evaluate(s.Test, scope).IsTrue ? Evaluate(s.Value, scope) : UndefinedValue.Instance;
            case TernaryNode t:
                return Evaluate(Evaluate(t.Condition, scope).IsTrue ? t.WhenTrue : t.WhenFalse, scope);
            case KeywordArgumentNode k:
                throw Error(k, $"keyword argument '{k.Name}=' outside an argument list");
            default:
                throw Error(node, $"{node.GetType().Name} cannot be evaluated here");
        }
    }

    private NullValue EvaluateSet(SetNode node, Scope scope)
    {
        // A block set's body is a scope of its own, as in Jinja2 (the reference rendered it in the enclosing one).
        Value rhs = node.Value is not null ? Evaluate(node.Value, scope) : new StringValue(EvaluateBlock(node.Body, new Scope(scope)));
        switch (node.Target)
        {
            case IdentifierNode or TupleNode:
                BindTarget(node.Target, rhs, scope, node, "set");
                break;
            case MemberNode { Property: IdentifierNode attribute } member:
            {
                if (Evaluate(member.Target, scope) is not NamespaceValue ns)
                {
                    throw Error(node, $"'set' can assign attribute '{attribute.Name}' only on a namespace()");
                }
                ns.Map[attribute.Name] = rhs;
                break;
            }
            default:
                throw Error(node, "unsupported target of 'set'");
        }
        return NullValue.Instance;
    }

    private StringValue EvaluateFor(ForNode node, Scope outer)
    {
        var scope = new Scope(outer);
        Node iterableNode = node.Iterable;
        Node? test = null;
        if (iterableNode is SelectNode select)
        {
            iterableNode = select.Value;
            test = select.Test;
        }
        Value iterable = Evaluate(iterableNode, scope);
        List<Value> source = iterable switch
        {
            ArrayValue a => a.Items,
            ObjectValue o => o.Map.Keys.Select(k => (Value)new StringValue(k)).ToList(),
            _ => throw Error(node, $"'for' cannot iterate over {iterable.AKind}"),
        };

        var items = new List<Value>();
        foreach (Value current in source)
        {
            if (test is not null)
            {
                var loopScope = new Scope(scope);
                BindLoopVariable(node, current, loopScope);
                if (!Evaluate(test, loopScope).IsTrue)
                {
                    continue;
                }
            }
            items.Add(current);
        }

        var sb = new StringBuilder();
        bool noIteration = true;
        var functions = new LoopFunctions();
        for (int i = 0; i < items.Count; i++)
        {
            Step(node);
            var loop = new OrderedDictionary<string, Value>(StringComparer.Ordinal)
            {
                ["index"] = new IntegerValue(i + 1),
                ["index0"] = new IntegerValue(i),
                ["revindex"] = new IntegerValue(items.Count - i),
                ["revindex0"] = new IntegerValue(items.Count - i - 1),
                ["first"] = BooleanValue.Of(i == 0),
                ["last"] = BooleanValue.Of(i == items.Count - 1),
                ["length"] = new IntegerValue(items.Count),
                ["previtem"] = i > 0 ? items[i - 1] : UndefinedValue.Instance,
                ["nextitem"] = i < items.Count - 1 ? items[i + 1] : UndefinedValue.Instance,
                // Jinja2's depth in a loop that is not recursive (recursive loops are refused).
                ["depth"] = new IntegerValue(1),
                ["depth0"] = new IntegerValue(0),
                ["cycle"] = LoopFunctions.Cycle(i),
                ["changed"] = functions.Changed,
            };
            // Each iteration its own scope, as in Jinja2: a set in the body lasts for the iteration (the reference kept it
            // for the iterations after; a namespace carries a value across them either way).
            var iteration = new Scope(scope);
            iteration.Set("loop", new LoopValue(loop));
            BindLoopVariable(node, items[i], iteration);
            string text = EvaluateBlock(node.Body, iteration);
            // As in Jinja2, an iteration left by break or continue keeps the text written before it (the reference
            // dropped it) but does not count as an iteration for the else block.
            Append(sb, text, node);
            if (_jump == Jump.Continue)
            {
                _jump = Jump.None;
                continue;
            }
            if (_jump == Jump.Break)
            {
                _jump = Jump.None;
                break;
            }
            noIteration = false;
        }
        if (noIteration)
        {
            sb.Append(EvaluateBlock(node.Else, scope));
        }
        return new StringValue(sb.ToString());
    }

    private void BindLoopVariable(ForNode node, Value current, Scope scope) => BindTarget(node.LoopVariable, current, scope, node, "for");

    /// <summary>
    /// Assigns a value to the names of a <c>for</c> or <c>set</c> target: a name, or a tuple of names and tuples
    /// (<c>for (a, b), c in ...</c>), each tuple unpacking what Python iterates (a mapping's keys, a string's characters
    /// too), exactly as many values as it has items, as Jinja2 unpacks them.
    /// </summary>
    private void BindTarget(Node target, Value value, Scope scope, Node statement, string keyword)
    {
        switch (target)
        {
            case IdentifierNode id:
                scope.Set(id.Name, value);
                break;
            case TupleNode tuple:
            {
                string notIterable = keyword == "for" ? $"cannot unpack {value.AKind} into the loop variables" : $"cannot unpack {value.AKind} in 'set'";
                List<Value> values = value is UndefinedValue ? throw Error(statement, notIterable) : PythonIterated(value) ?? throw Error(statement, notIterable);
                if (values.Count != tuple.Items.Count)
                {
                    throw Error(statement, $"'{keyword}' unpacks {values.Count} value{(values.Count == 1 ? "" : "s")} into {tuple.Items.Count} names");
                }
                for (int i = 0; i < tuple.Items.Count; i++)
                {
                    BindTarget(tuple.Items[i], values[i], scope, statement, keyword);
                }
                break;
            }
            default:
                throw Error(target, keyword == "for" ? "loop variables must be names or tuples of names" : "'set' can unpack only into names or tuples of names");
        }
    }

    private void DefineMacro(MacroNode node, Scope scope) => scope.Set(node.Name, Macro(node, lexical: null));

    // A call block: the call evaluated where `caller` is a macro of the block's parameters and body, whose scope is
    // a child of the block's (lexical, as in the reference and Jinja2), not of the macro that calls it.
    private Value EvaluateCallBlock(CallBlockNode node, Scope scope)
    {
        var callScope = new Scope(scope);
        callScope.Set("caller", Macro(new MacroNode("caller", node.CallerParameters, node.Body, node.Position), lexical: scope));
        Step(node.Call);
        return EvaluateCall((CallNode)node.Call, callScope, macroOnly: true);
    }

    // lexical: the scope the macro's scope is a child of; null for the caller's scope (a macro, as in the reference).
    private FunctionValue Macro(MacroNode node, Scope? lexical)
    {
        return new FunctionValue(node.Name, (args, caller, where) =>
        {
            var macroScope = new Scope(lexical ?? caller);
            List<Value> positional = args;
            OrderedDictionary<string, Value>? keywords = null;
            if (positional.Count > 0 && positional[^1] is ObjectValue { IsKeywordArguments: true } kw)
            {
                keywords = new OrderedDictionary<string, Value>(kw.Map, StringComparer.Ordinal);
                positional = positional[..^1];
            }
            if (positional.Count > node.Parameters.Count)
            {
                throw new ChatTemplateException($"chat template {where()}: macro '{node.Name}' takes not more than {node.Parameters.Count} argument(s), got {positional.Count}");
            }
            var pending = new List<(string, Node)>();
            for (int i = 0; i < node.Parameters.Count; i++)
            {
                (string name, Node? defaultValue) = node.Parameters[i] switch
                {
                    KeywordArgumentNode k => (k.Name, (Node?)k.Value),
                    IdentifierNode id => (id.Name, null),
                    _ => throw Error(node, "bad macro parameter"),
                };
                Value? value = i < positional.Count ? positional[i] : null;
                if (value is null && keywords is not null && keywords.Remove(name, out Value? kv))
                {
                    value = kv;
                }
                if (value is null && defaultValue is not null)
                {
                    pending.Add((name, defaultValue));
                }
                macroScope.Set(name, value ?? UndefinedValue.Instance);
            }
            if (keywords is { Count: > 0 })
            {
                throw new ChatTemplateException($"chat template {where()}: macro '{node.Name}' takes no keyword argument '{keywords.GetAt(0).Key}'");
            }
            foreach ((string name, Node defaultValue) in pending)
            {
                macroScope.Set(name, Evaluate(defaultValue, macroScope));
            }
            if (_callDepth >= MaxCallDepth)
            {
                throw new ChatTemplateException($"chat template {where()}: macro '{node.Name}' nests deeper than {MaxCallDepth} calls (unbounded recursion?)");
            }
            _callDepth++;
            string text;
            try
            {
                text = EvaluateBlock(node.Body, macroScope);
            }
            finally
            {
                _callDepth--;
            }
            if (_jump != Jump.None)
            {
                throw Error(node, $"'{{% {_jump.ToString().ToLowerInvariant()} %}}' inside macro '{node.Name}' outside a loop is not supported");
            }
            return new StringValue(text);
        }, isMacro: true);
    }

    private (List<Value> Positional, OrderedDictionary<string, Value> Keywords) EvaluateArguments(IReadOnlyList<Node> args, Scope scope)
    {
        var positional = new List<Value>();
        var keywords = new OrderedDictionary<string, Value>(StringComparer.Ordinal);
        foreach (Node a in args)
        {
            if (a is not KeywordArgumentNode)
            {
                positional.Add(Evaluate(a, scope));
            }
        }
        foreach (Node a in args)
        {
            if (a is KeywordArgumentNode k)
            {
                if (!keywords.TryAdd(k.Name, Evaluate(k.Value, scope)))
                {
                    throw Error(k, $"keyword argument '{k.Name}' given twice");
                }
            }
        }
        return (positional, keywords);
    }

    // macroOnly: a call block's call, which hands the macro its caller. A function that is no macro has no use for
    // one (Jinja2 refuses the keyword it does not take; the reference wrote [] for range(3)), so it is refused.
    private Value EvaluateCall(CallNode node, Scope scope, bool macroOnly = false)
    {
        (List<Value> args, OrderedDictionary<string, Value> kwargs) = EvaluateArguments(node.Arguments, scope);
        if (kwargs.Count > 0)
        {
            args.Add(new ObjectValue(kwargs, isKeywordArguments: true));
        }
        Value fn = Evaluate(node.Callee, scope);
        if (fn is not FunctionValue f)
        {
            throw Error(node, $"{Describe(node.Callee) ?? "the callee"} is not a function (it is {(fn is UndefinedValue ? "undefined" : fn.AKind)})");
        }
        if (macroOnly && !f.IsMacro)
        {
            throw Error(node, $"'call' needs a macro, got the function '{f.Name}'");
        }
        return f.Invoke(args, scope, Where(node));
    }

    // A name or attribute as the template writes it, for a message; null for other expressions.
    private static string? Describe(Node node) => node switch
    {
        IdentifierNode id => $"'{id.Name}'",
        MemberNode { Computed: false, Property: IdentifierNode p } => $"'.{p.Name}'",
        _ => null,
    };

    // " (name is undefined)" where the expression is a name or attribute, for a message about an undefined value.
    private static string UndefinedName(Node node) => Describe(node) is string name ? $" ({name} is undefined)" : "";

    private Value EvaluateMember(MemberNode node, Scope scope)
    {
        Value target = Evaluate(node.Target, scope);
        Value property;
        if (node.Computed)
        {
            if (node.Property is SliceNode slice)
            {
                return EvaluateSlice(target, slice, scope);
            }
            property = Evaluate(node.Property, scope);
        }
        else
        {
            property = node.Property switch
            {
                IntegerLiteralNode i => new IntegerValue(i.Value),
                IdentifierNode id => new StringValue(id.Name),
                _ => throw Error(node, "bad attribute"),
            };
        }

        Value? value;
        switch (target)
        {
            case ObjectValue obj:
                value = property is not StringValue key ? null
                    : obj.Map.TryGetValue(key.Value, out Value? v) ? v : Builtins.ObjectMethod(obj, key.Value);
                break;
            case LoopValue loop:
                value = property is StringValue name && loop.Attributes.TryGetValue(name.Value, out Value? attribute) ? attribute : null;
                break;
            case NamespaceValue ns:
                value = property is StringValue nsKey && ns.Map.TryGetValue(nsKey.Value, out Value? nv) ? nv : null;
                break;
            case ArrayValue arr:
                value = property switch
                {
                    IntegerValue i => At(arr.Items, i.Value),
                    // Python's bool is an int: [a, b][true] is b.
                    BooleanValue b => At(arr.Items, b.Value ? 1 : 0),
                    StringValue s => s.Value == "length" ? new IntegerValue(arr.Items.Count)
                        : arr.FieldNames is { } names && Array.IndexOf(names, s.Value) is >= 0 and int field ? arr.Items[field] : null,
                    _ => null,
                };
                break;
            case StringValue str:
                value = property switch
                {
                    IntegerValue i => At(str.Value, i.Value),
                    BooleanValue b => At(str.Value, b.Value ? 1 : 0),
                    StringValue s => Builtins.StringMethod(str, s.Value),
                    _ => null,
                };
                break;
            case MarkupValue markup:
                // Markup's __getitem__ gives a Markup; its methods escape their arguments, which is not modelled.
                value = property switch
                {
                    IntegerValue i => At(markup.Text, i.Value) is StringValue c ? new MarkupValue(c.Value) : null,
                    BooleanValue b => At(markup.Text, b.Value ? 1 : 0) is StringValue c ? new MarkupValue(c.Value) : null,
                    StringValue s => throw Error(node, $"'{s.Value}' of Jinja2's Markup (the text escape or safe gives) is not supported"),
                    _ => null,
                };
                break;
            default:
                value = null;
                break;
        }
        // What Python cannot look up (a key or index of another kind, an index into none or a number) is undefined
        // too, as Jinja2's sandbox gives it; the reference refused it.
        return value ?? UndefinedValue.Instance;
    }

    private static Value? At(List<Value> items, long index)
    {
        long i = index < 0 ? items.Count + index : index;
        return i >= 0 && i < items.Count ? items[(int)i] : null;
    }

    private static Value? At(string s, long index)
    {
        long i = index < 0 ? s.Length + index : index;
        return i >= 0 && i < s.Length ? new StringValue(s[(int)i].ToString()) : null;
    }

    private Value EvaluateSlice(Value target, SliceNode node, Scope scope)
    {
        long? Part(Node? part, string name)
        {
            Value v = Evaluate(part, scope);
            return v switch
            {
                IntegerValue i => i.Value,
                UndefinedValue => null,
                _ => throw Error(node, $"slice {name} must be an integer, got {v.AKind}"),
            };
        }
        long? start = Part(node.Start, "start");
        long? stop = Part(node.Stop, "stop");
        long? step = Part(node.Step, "step");
        switch (target)
        {
            case ArrayValue arr:
                // A tuple's slice is a tuple, as in Python.
                return new ArrayValue(Slice(arr.Items, start, stop, step), arr.IsTuple);
            case StringValue str:
                // The reference slices strings by code point (Array.from), but indexes them by UTF-16 unit.
                return new StringValue(SliceText(str.Value, start, stop, step));
            case MarkupValue markup:
                // Markup's slice is a Markup.
                return new MarkupValue(SliceText(markup.Text, start, stop, step));
            default:
                throw Error(node, $"cannot slice {target.AKind}");
        }
    }

    /// <summary>Python slicing, as the reference's <c>slice()</c> computes it.</summary>
    private static string SliceText(string text, long? start, long? stop, long? step)
    {
        var codePoints = new List<string>();
        for (int i = 0; i < text.Length; i++)
        {
            int n = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            codePoints.Add(text.Substring(i, n));
            i += n - 1;
        }
        return string.Concat(Slice(codePoints, start, stop, step));
    }

        internal static List<T> Slice<T>(List<T> array, long? startArg, long? stopArg, long? stepArg)
    {
        long step = stepArg ?? 1;
        long n = array.Count;
        int direction = Math.Sign(step);
        long start, stop;
        if (direction >= 0)
        {
            start = startArg ?? 0;
            start = start < 0 ? Math.Max(n + start, 0) : Math.Min(start, n);
            stop = stopArg ?? n;
            stop = stop < 0 ? Math.Max(n + stop, 0) : Math.Min(stop, n);
        }
        else
        {
            start = startArg ?? n - 1;
            start = start < 0 ? Math.Max(n + start, -1) : Math.Min(start, n - 1);
            // An explicit stop counts from the end when negative, -1 included, as in Python: 'abc'[2:-1:-1] is ''.
            // The reference reads -1 as "no stop" there, so 'abcdef'[-1:-1:-2] was 'fdb' (Python '').
            stop = stopArg is null ? -1 : stopArg.Value < 0 ? Math.Max(n + stopArg.Value, -1) : Math.Min(stopArg.Value, n - 1);
        }
        var result = new List<T>();
        for (long i = start; direction * i < direction * stop; i += step)
        {
            result.Add(array[(int)i]);
        }
        return result;
    }
}
