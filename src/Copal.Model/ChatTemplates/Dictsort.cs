namespace Copal.Model.ChatTemplates;

/// <summary>
/// <c>mapping | dictsort(case_sensitive=false, by='key', reverse=false)</c>: the mapping's [key, value] pairs sorted by
/// key or by value, strings compared case-insensitively unless asked. Both references have it (@huggingface/jinja as a
/// mapping method, usable as a filter; Jinja2 as a filter); the arguments are checked as the reference checks them.
/// </summary>
internal static class Dictsort
{
    public static ArrayValue Apply(ObjectValue obj, List<Value> args, Func<string> where)
    {
        var positional = args.ToList();
        OrderedDictionary<string, Value>? keywords = null;
        if (positional.Count > 0 && positional[^1] is ObjectValue { IsKeywordArguments: true } kw)
        {
            keywords = kw.Map;
            positional.RemoveAt(positional.Count - 1);
        }
        Value Argument(int index, string name, Value fallback) =>
            index < positional.Count ? positional[index] : keywords?.GetValueOrDefault(name) ?? fallback;

        if (Argument(0, "case_sensitive", BooleanValue.False) is not BooleanValue caseSensitive)
        {
            throw Fail(where, "dictsort case_sensitive must be a boolean");
        }
        if (Argument(1, "by", new StringValue("key")) is not StringValue { Value: "key" or "value" } by)
        {
            throw Fail(where, "dictsort by must be 'key' or 'value'");
        }
        if (Argument(2, "reverse", BooleanValue.False) is not BooleanValue reverse)
        {
            throw Fail(where, "dictsort reverse must be a boolean");
        }
        int index = by.Value == "key" ? 0 : 1;
        return new ArrayValue(Builtins.StableSort(Builtins.Items(obj).Items, pair => ((ArrayValue)pair).Items[index],
            caseSensitive.Value, reverse.Value, keysAreWrapped: false, where));
    }

    private static ChatTemplateException Fail(Func<string> where, string what) => new($"chat template {where()}: {what}");
}
