namespace Copal.Model.ChatTemplates;

/// <summary>
/// Jinja2's <c>loop.cycle(*values)</c> and <c>loop.changed(*values)</c> for one for loop (the reference lacks both):
/// <c>cycle</c> gives its arguments in turn by the iteration's index; <c>changed</c> is true when its arguments differ,
/// by Python's <c>==</c>, from those of its last call in this loop (and at its first call). Both take positional
/// arguments only, as Python's methods do.
/// </summary>
internal sealed class LoopFunctions
{
    private List<Value>? _lastChanged;

    public LoopFunctions() => Changed = new FunctionValue("changed", (args, _, where) =>
    {
        RefuseKeywords("changed", args, where);
        bool changed = _lastChanged is null
            || !Values.PyEquals(new ArrayValue(_lastChanged, isTuple: true), new ArrayValue(args, isTuple: true), where);
        _lastChanged = args;
        return BooleanValue.Of(changed);
    });

    public FunctionValue Changed { get; }

    /// <summary><c>loop.cycle</c> at the iteration of index <paramref name="index0"/>.</summary>
    public static FunctionValue Cycle(int index0) => new("cycle", (args, _, where) =>
    {
        RefuseKeywords("cycle", args, where);
        return args.Count > 0 ? args[index0 % args.Count]
            : throw new ChatTemplateException($"chat template {where()}: loop.cycle() needs at least one value");
    });

    private static void RefuseKeywords(string name, List<Value> args, Func<string> where)
    {
        if (args is [.., ObjectValue { IsKeywordArguments: true }])
        {
            throw new ChatTemplateException($"chat template {where()}: loop.{name}() takes no keyword arguments");
        }
    }
}
