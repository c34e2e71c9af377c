using System.Text.Json;

namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// The schemas an engine has compiled, by their JSON text, each with its masks: a client sends the same schema request
/// after request, and its masks are what make decoding under it cheap. Holds at most <see cref="Capacity"/>; past it
/// starts again. Thread-safe.
/// </summary>
internal sealed class SchemaCache
{
    /// <summary>Schemas kept (each with up to <see cref="MaskCache{TState}.CachedStates"/> masks).</summary>
    public const int Capacity = 16;

    private readonly Dictionary<string, SchemaMasks> _schemas = [];

    /// <summary>The compiled <paramref name="schema"/> and its masks over <paramref name="trie"/>.</summary>
    /// <exception cref="SchemaNotSupportedException">A keyword or combination structured outputs cannot hold a reply to.</exception>
    public SchemaMasks Get(JsonElement schema, Func<TokenTrie> trie)
    {
        string text = schema.GetRawText();
        lock (_schemas)
        {
            if (_schemas.TryGetValue(text, out SchemaMasks? kept))
            {
                return kept;
            }
        }
        var masks = new SchemaMasks(JsonSchemaCompiler.Compile(schema), trie());
        lock (_schemas)
        {
            if (_schemas.Count == Capacity)
            {
                _schemas.Clear();
            }
            return _schemas.TryAdd(text, masks) ? masks : _schemas[text];
        }
    }
}
