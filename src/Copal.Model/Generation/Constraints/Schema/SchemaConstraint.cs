namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>OpenAI's structured outputs for one sequence: the reply is a JSON object valid under a schema (<see cref="SchemaPrefix"/>).</summary>
internal sealed class SchemaConstraint(JsonVocabulary vocabulary, SchemaMasks schema)
    : PrefixConstraint<SchemaPrefix>(vocabulary.Trie, vocabulary.StopIds, schema.Masks, new SchemaPrefix(schema.Schema), "JSON object", "the JSON schema", "json_schema");

/// <summary>A compiled schema and the masks its states have made over one model's tokens; shared by the requests that give the same schema.</summary>
internal sealed class SchemaMasks(CompiledSchema schema, TokenTrie trie)
{
    public CompiledSchema Schema { get; } = schema;

    public MaskCache<SchemaPrefix> Masks { get; } = new(trie);
}
