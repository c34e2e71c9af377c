using System.Text.Json;
using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// DeepSeek V3's and R1's templates add a tool call's arguments to a string. Given the arguments as a mapping (as serve
/// and the chat client give them), the text written is Python's <c>json.dumps(json.loads(arguments), ensure_ascii=False)</c>,
/// the text of the model's own call. Every expected text here is that expression's output for the input.
/// </summary>
public sealed class DeepSeekToolArgumentsTests
{
    [Theory]
    [InlineData("deepseek-v3", """{"q":"日本語 ü \u00e9","n":{"x":[1,2.50,{"y":null}]},"f":1.0,"b":true,"e":1E5,"s":"a\"b\\c\n\u0001\u007f\u2028/"}""", "{\"q\": \"日本語 ü é\", \"n\": {\"x\": [1, 2.5, {\"y\": null}]}, \"f\": 1.0, \"b\": true, \"e\": 100000.0, \"s\": \"a\\\"b\\\\c\\n\\u0001\u007f\u2028/\"}")]
    [InlineData("deepseek-r1", """{"big":1.5e300,"small":1e-7,"neg":-0.0,"i":-0,"z":0.1}""", """{"big": 1.5e+300, "small": 1e-07, "neg": -0.0, "i": 0, "z": 0.1}""")]
    [InlineData("deepseek-r1", "{}", "{}")]
    [InlineData("deepseek-v3", """{"s":"<a href='x'>&amp; \ud83d\ude00 \t\b\f\r \u0000 \u001f \u00ad \ufeff \u0085"}""", "{\"s\": \"<a href='x'>&amp; \U0001F600 \\t\\b\\f\\r \\u0000 \\u001f \u00ad \ufeff \u0085\"}")]
    public void A_calls_arguments_are_written_as_python_writes_their_json(string name, string arguments, string expected)
    {
        ChatTemplate template = ChatTemplate.FromDirectory(ChatTemplateGoldens.TemplateDir(name))!;
        using JsonDocument parsed = JsonDocument.Parse(arguments);
        var call = new Dictionary<string, object?>
        {
            ["type"] = "function",
            ["function"] = new Dictionary<string, object?> { ["name"] = "f", ["arguments"] = parsed.RootElement.Clone() },
        };
        ChatTemplateMessage[] messages =
        [
            new("user", "hi"),
            new("assistant", null, new Dictionary<string, object?> { ["tool_calls"] = new[] { call } }),
            new("tool", "ok"),
        ];
        string prompt = template.Render(messages, true);
        Assert.Contains("f\n```json\n" + expected + "\n```", prompt, StringComparison.Ordinal);
    }
}
