using System.Text.Json;

namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// The schemas an engine has compiled, by their JSON text, each with its masks: a client sends the same schema request
/// after request, and its masks are what make decoding under it cheap. Holds at most <see cref="Capacity"/>; past it
/// starts again. Thread-safe: callers that give the same schema at once wait for one build of it (a schema with a
/// pattern may take a second to compile, and a client's concurrent requests would otherwise each compile it).
/// </summary>
internal sealed class SchemaCache
{
    /// <summary>Schemas kept (each with up to <see cref="MaskCache{TState}.CachedStates"/> masks).</summary>
    public const int Capacity = 16;

    private readonly Dictionary<string, Lazy<SchemaMasks>> _schemas = [];

    /// <summary>The compiled <paramref name="schema"/> and its masks over <paramref name="trie"/>.</summary>
    /// <exception cref="SchemaNotSupportedException">A keyword or combination structured outputs cannot hold a reply to.</exception>
    public SchemaMasks Get(JsonElement schema, Func<TokenTrie> trie)
    {
        string text = schema.GetRawText();
        Lazy<SchemaMasks> entry;
        lock (_schemas)
        {
            if (!_schemas.TryGetValue(text, out entry!))
            {
                if (_schemas.Count == Capacity)
                {
                    _schemas.Clear();
                }
                // Built outside the lock by its first caller; the callers that find it meanwhile wait for that build.
                entry = new Lazy<SchemaMasks>(() => new SchemaMasks(JsonSchemaCompiler.Compile(schema), trie()), LazyThreadSafetyMode.ExecutionAndPublication);
                _schemas.Add(text, entry);
            }
        }
        try
        {
            return entry.Value;
        }
        catch
        {
            // A refusal reaches every caller that waited on this build; the entry goes, so a failure that may not
            // recur (memory) is not kept, and a refused schema is compiled again only by a later request.
            lock (_schemas)
            {
                if (_schemas.TryGetValue(text, out Lazy<SchemaMasks>? kept) && kept == entry)
                {
                    _schemas.Remove(text);
                }
            }
            throw;
        }
    }
}
