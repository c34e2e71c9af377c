namespace Copal.Model.ChatTemplates;

/// <summary>A filter's parameter as Jinja2's Python function declares it; a null default is a required parameter.</summary>
internal sealed record FilterParameter(string Name, Value? Default);

/// <summary>
/// Binds a filter's arguments to its parameters as Python binds a call to a <c>def</c>: positional arguments first, in
/// order, then keywords by name, then the defaults. What Python refuses with a TypeError is refused here, naming the
/// filter: more positional arguments than parameters, a keyword the filter does not take, a parameter given both by
/// position and by keyword, a required parameter left out. Every filter with parameters binds through it, so none
/// takes an argument twice or ignores one it does not know.
/// </summary>
internal sealed partial class Interpreter
{
    private Value[] BindArguments(FilterNode node, Scope scope, string name, FilterParameter[] parameters)
    {
        var bound = new Value?[parameters.Length];
        if (node.Arguments is not null)
        {
            (List<Value> positional, OrderedDictionary<string, Value> keywords) = EvaluateArguments(node.Arguments, scope);
            if (positional.Count > parameters.Length)
            {
                throw Error(node, FormattableString.Invariant(
                    $"{name} takes at most {parameters.Length} argument{(parameters.Length == 1 ? "" : "s")} ({Names(parameters)}), got {positional.Count}"));
            }
            for (int i = 0; i < positional.Count; i++)
            {
                bound[i] = positional[i];
            }
            foreach ((string keyword, Value value) in keywords)
            {
                int at = Array.FindIndex(parameters, p => p.Name == keyword);
                if (at < 0)
                {
                    throw Error(node, parameters.Length == 0 ? $"{name} takes no argument '{keyword}'"
                        : $"{name} takes no argument '{keyword}' (it takes {Names(parameters)})");
                }
                if (bound[at] is not null)
                {
                    throw Error(node, $"{name} got {keyword} twice");
                }
                bound[at] = value;
            }
        }
        var values = new Value[parameters.Length];
        for (int i = 0; i < parameters.Length; i++)
        {
            values[i] = bound[i] ?? parameters[i].Default ?? throw Error(node, $"{name} needs {parameters[i].Name}");
            if (values[i] is MarkupValue markup && name != "default")
            {
                // replace takes str() of its arguments; elsewhere a Markup argument makes Markup's methods escape
                // the other text (join's separator escapes the items), which is not modelled.
                values[i] = name == "replace" ? markup.Plain
                    : throw Error(node, $"{name}'s {parameters[i].Name} as Jinja2's Markup (the text escape or safe gives) is not supported");
            }
        }
        return values;
    }

    private static string Names(FilterParameter[] parameters) => string.Join(", ", parameters.Select(p => p.Name));
}
