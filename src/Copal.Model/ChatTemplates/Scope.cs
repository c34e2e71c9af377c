namespace Copal.Model.ChatTemplates;

/// <summary>
/// Variables of one scope, with the reference's scoping: a for loop and a macro call open a child scope, <c>set</c>
/// writes to the current scope, a name not found anywhere is undefined.
/// </summary>
internal sealed class Scope(Scope? parent)
{
    private readonly Scope? _parent = parent;
    private readonly Dictionary<string, Value> _variables = new(StringComparer.Ordinal);

    public void Set(string name, Value value) => _variables[name] = value;

    /// <summary>Declares a variable of the render context; a second declaration of a name is an error, as in the reference.</summary>
    public void Declare(string name, Value value)
    {
        if (!_variables.TryAdd(name, value))
        {
            throw new ChatTemplateException($"chat template variable '{name}' is already defined (it is a built-in name)");
        }
    }

    public Value Lookup(string name)
    {
        for (Scope? s = this; s is not null; s = s._parent)
        {
            if (s._variables.TryGetValue(name, out Value? v))
            {
                return v;
            }
        }
        return UndefinedValue.Instance;
    }
}
