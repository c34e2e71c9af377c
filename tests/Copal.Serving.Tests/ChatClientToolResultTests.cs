using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.Chat;
using Copal.Model.ChatTemplates;
using Microsoft.Extensions.AI;

namespace Copal.Serving.Tests;

/// <summary>
/// A <see cref="FunctionResultContent"/>'s result is the tool message's text, as a Python user of transformers (or of
/// an OpenAI client in front of vLLM or copal serve) gives a function's result: a string as it is, any other value as
/// <c>json.dumps(result, ensure_ascii=False)</c> writes it (a whole float keeps its ".0", ", " between items and
/// ": " after keys). System.Text.Json wrote a double 1.0 as 1 and objects without spaces; a JSON element, the form
/// AIFunction results take, is written with the same separators, so an object and its element agree.
/// </summary>
public sealed class ChatClientToolResultTests : IDisposable
{
    private readonly Stories260KEngine _stories = new();
    private readonly CopalChatClient _client;

    public ChatClientToolResultTests() => _client = new CopalChatClient(_stories.Engine, new TemplateChatFormatter(new ChatTemplate(
            "{% for m in messages %}{% if m.role == 'tool' %}[{{ m.content }}]{% endif %}{% endfor %}")));

    public void Dispose() => _stories.Dispose();

    private sealed record Weather(double Temperature, string City);

    private string Text(object? result) => _client.ToRequest(
    [
        new ChatMessage(ChatRole.User, "Weather?"),
        new ChatMessage(ChatRole.Assistant, [new FunctionCallContent("c1", "get_weather")]),
        new ChatMessage(ChatRole.Tool, [new FunctionResultContent("c1", result)]),
    ], null).Prompt!;

    public static TheoryData<string, string> Results() => new()
    {
        // What Python writes for the same value: str for a string, json.dumps(value, ensure_ascii=False) for the rest.
        { "string", "[sunny \"é\"]" },
        { "double 1.0", "[1.0]" },
        { "double 1e16", "[1e+16]" },
        { "float 0.1f", "[0.1]" },
        { "decimal 2.50m", "[2.5]" },
        { "int 3", "[3]" },
        { "bool", "[true]" },
        // A function that returns nothing: no text, as Microsoft.Extensions.AI's OpenAI client sends it.
        { "null", "[]" },
        { "dictionary", "[{\"t\": 18.0, \"c\": \"cloudy \\\"é\\\"\\n\", \"ok\": true, \"n\": null, \"l\": [1, 2.5]}]" },
        { "record", "[{\"temperature\": 18.5, \"city\": \"Paris\"}]" },
        { "JsonObject", "[{\"t\": 18.0, \"l\": [1, 2.5]}]" },
        { "dictionary of JsonValues", "[{\"t\": 18.0, \"l\": [2.0, 1]}]" },
        { "JsonElement string", "[21:05]" },
        { "JsonElement object", "[{\"a\": 1, \"b\": [true, null], \"c\": \"x\\\"y\", \"é\": {}}]" },
        { "JsonElement of a record", "[{\"temperature\": 18.5, \"city\": \"Paris\"}]" },
    };

    [Theory]
    [MemberData(nameof(Results))]
    public void A_result_is_written_as_python_writes_it(string kind, string expected)
    {
        object? result = kind switch
        {
            "string" => "sunny \"é\"",
            "double 1.0" => 1.0,
            "double 1e16" => 1e16,
            "float 0.1f" => 0.1f,
            "decimal 2.50m" => 2.50m,
            "int 3" => 3,
            "bool" => true,
            "null" => null,
            "dictionary" => new Dictionary<string, object?> { ["t"] = 18.0, ["c"] = "cloudy \"é\"\n", ["ok"] = true, ["n"] = null, ["l"] = new object[] { 1, 2.5 } },
            "record" => new Weather(18.5, "Paris"),
            "JsonObject" => new JsonObject { ["t"] = 18.0, ["l"] = new JsonArray(1, 2.5) },
            "dictionary of JsonValues" => new Dictionary<string, object?> { ["t"] = JsonValue.Create(18.0), ["l"] = new JsonArray(2.0, 1) },
            "JsonElement string" => JsonSerializer.SerializeToElement("21:05"),
            "JsonElement object" => JsonDocument.Parse("{\"a\":1,\"b\":[true,null],\"c\":\"x\\\"y\",\"\\u00e9\":{}}").RootElement,
            "JsonElement of a record" => JsonSerializer.SerializeToElement(new Weather(18.5, "Paris"), AIJsonUtilities.DefaultOptions),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        Assert.Equal(expected, Text(result));
    }

    /// <summary>
    /// NaN and the infinities are refused, as Microsoft.Extensions.AI's OpenAI client refuses them (System.Text.Json's
    /// ArgumentException), so that a conversation sent here and one sent through that client to copal serve or vLLM
    /// fail alike; OpenAI's JSON body cannot hold them. Python's json.dumps writes NaN, Infinity and -Infinity, text a
    /// caller who wants it gives as a string result, which is sent as it is.
    /// </summary>
    [Theory]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "Infinity")]
    [InlineData(double.NegativeInfinity, "-Infinity")]
    public void A_result_that_json_cannot_hold_is_refused_naming_its_message(double value, string shown)
    {
        var e = Assert.Throws<ArgumentException>(() => Text(new Dictionary<string, object?> { ["l"] = new object[] { 1, value } }));
        Assert.Equal($"messages[2]: the result of call 'c1' holds {shown}, which JSON cannot hold (its numbers are finite; "
            + "Microsoft.Extensions.AI's OpenAI client refuses it too): give the text to send, such as Python's NaN, as a string result (Parameter 'messages')", e.Message);
        Assert.Equal("[NaN]", Text("NaN"));
    }
}
