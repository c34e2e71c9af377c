namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// A JSON schema that structured outputs cannot hold a reply to exactly: a keyword it does not implement, or a
/// combination it cannot decide byte by byte. Refused rather than ignored, so a reply is never JSON that the schema
/// rejects. The message is one line naming the keyword and where it is in the schema (a JSON pointer).
/// </summary>
internal sealed class SchemaNotSupportedException(string keyword, string path, string reason)
    : Exception($"json_schema: '{keyword}' at {path} is not supported: {reason}")
{
    /// <summary>The schema keyword refused (<c>pattern</c>, <c>anyOf</c>, …).</summary>
    public string Keyword { get; } = keyword;

    /// <summary>Where the keyword's schema is, as a JSON pointer fragment (<c>#/properties/name</c>).</summary>
    public string Path { get; } = path;
}
