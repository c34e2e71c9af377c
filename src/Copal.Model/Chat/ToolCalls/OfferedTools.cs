using System.Text.Json;

namespace Copal.Model.Chat.ToolCalls;

/// <summary>
/// The tools a chat request offers (copal serve's tools and tool_choice, <see cref="CopalChatClient"/>'s ChatOptions),
/// shown to the model by its template and read back from its reply.
/// </summary>
/// <param name="Definitions">OpenAI's tool objects, for the template's <c>tools</c>.</param>
/// <param name="Names">The functions' names: the calls a reply may make.</param>
/// <param name="Format">How the model writes a call it chooses to make.</param>
/// <param name="Parallel">Whether a reply may make more than one call (false keeps the first).</param>
internal sealed record OfferedTools(IReadOnlyList<object> Definitions, IReadOnlyList<string> Names, ToolCallFormat Format, bool Parallel)
{
    /// <summary>
    /// The most functions a request may offer: OpenAI's bound, held by copal serve and <see cref="CopalChatClient"/>
    /// alike. Counted before any is read: a 20 MB body of 300,000 small functions held a core for minutes (each name
    /// was checked against every one before it), and a template that writes every tool grew past the renderer's bound
    /// on its output, a 500 that blamed the template.
    /// </summary>
    public const int MaxTools = 128;

    /// <summary>Whether a call is forced ("required" or a named function): the reply is held to <see cref="Schema"/>.</summary>
    public bool Forced { get; init; }

    /// <summary>The function a forced call must call; null for any.</summary>
    public string? ForcedName { get; init; }

    /// <summary>
    /// Each function's parameters schema by name (null: none given), for a forced call's schema and for the types of
    /// Qwen3-Coder's values.
    /// </summary>
    public IReadOnlyList<KeyValuePair<string, JsonElement?>> Parameters { get; init; } = [];

    /// <summary>The schema a forced call's reply is held to (<see cref="ForcedToolCalls.Schema"/>).</summary>
    public JsonElement Schema() => ForcedToolCalls.Schema(Parameters, ForcedName);

    /// <summary>The splitter of one reply's calls.</summary>
    public ToolCallSplitter Splitter() => Forced ? ToolCallSplitter.Forced(ForcedToolCalls.Callee(Names, ForcedName), Names) : new ToolCallSplitter(Format, Names, Parameters);

    /// <summary>
    /// Why a forced call cannot be made, from the engine's refusal of its schema (<paramref name="schemaRefusal"/>):
    /// "the parameters of 'f' cannot be held to: json_schema: …", for a message that says what forced it.
    /// </summary>
    public string Unforcible(string schemaRefusal) =>
        ForcedToolCalls.SchemaProblem(schemaRefusal, Parameters, ForcedToolCalls.Callee(Names, ForcedName));
}
