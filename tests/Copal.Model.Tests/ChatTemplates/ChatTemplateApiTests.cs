using System.Text.Json;
using System.Text.Json.Nodes;
using Copal.Model.ChatTemplates;
using Copal.Testing;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>The public entry point: reading tokenizer_config.json, choosing among named templates, passing inputs.</summary>
public sealed class ChatTemplateApiTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("copal-ct-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ChatTemplate? Load(string json)
    {
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), json);
        return ChatTemplate.FromDirectory(_dir);
    }

    [Fact]
    public void No_config_or_no_chat_template_gives_null()
    {
        Assert.Null(ChatTemplate.FromDirectory(_dir));
        Assert.Null(ChatTemplate.FromDirectory(TestData.Path("tokenizers", "mistral")));
        Assert.Null(Load("{\"chat_template\": null, \"bos_token\": \"<s>\"}"));
    }

    [Fact]
    public void A_chat_template_jinja_file_is_the_template_and_wins_over_the_configs_as_in_transformers()
    {
        // transformers 4.50 and later save the template to chat_template.jinja and read it before
        // tokenizer_config.json's chat_template; the special tokens stay the config's. Unread, a serve of such a
        // model chatted in the plain format and generate --chat said it had no template.
        File.WriteAllText(Path.Combine(_dir, "chat_template.jinja"), "{{ bos_token }}{% for m in messages %}[{{ m.content }}]{% endfor %}");
        Assert.Equal("[hi]", ChatTemplate.FromDirectory(_dir)!.Render([new("user", "hi")], false));
        ChatTemplate t = Load("""{"chat_template": "old {{ messages[0].content }}", "bos_token": "<s>"}""")!;
        Assert.Equal("<s>[hi]", t.Render([new("user", "hi")], false));
    }

    [Fact]
    public void A_chat_template_jinja_that_is_not_utf8_is_refused_naming_the_byte_and_a_bom_is_kept_as_transformers_keeps_it()
    {
        // transformers opens the file with encoding="utf-8": a Latin-1 template fails there, where a lenient decoder
        // rendered U+FFFD into every prompt; and a byte-order mark is read as the template's first character.
        string file = Path.Combine(_dir, "chat_template.jinja");
        File.WriteAllBytes(file, [.. "{{ 'caf"u8, 0xE9, .. "' }}"u8]);
        var e = Assert.Throws<ChatTemplateException>(() => ChatTemplate.FromDirectory(_dir));
        Assert.Equal($"{file}: expected UTF-8 text, found byte 0xE9 at offset 7 that is not UTF-8", e.Message);
        File.WriteAllBytes(file, [0xEF, 0xBB, 0xBF, .. "[{{ messages[0].content }}]"u8]);
        Assert.Equal("\uFEFF[hi]", ChatTemplate.FromDirectory(_dir)!.Render([new("user", "hi")], false));
    }

    [Fact]
    public void A_chat_template_jinja_with_windows_line_ends_renders_as_transformers_reads_it()
    {
        // transformers opens the file in text mode, which reads "\r\n" and a lone "\r" as "\n": a template saved on
        // Windows (or checked out by Git for Windows with core.autocrlf) renders as the original. Read as bytes, each
        // line of the prompt ended with "\r\n" and the prompt's tokens were not the model's.
        const string Template = "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}\n{% endfor %}";
        File.WriteAllText(Path.Combine(_dir, "chat_template.jinja"), Template.Replace("\n", "\r\n", StringComparison.Ordinal));
        Directory.CreateDirectory(Path.Combine(_dir, "additional_chat_templates"));
        File.WriteAllText(Path.Combine(_dir, "additional_chat_templates", "tool_use.jinja"), "tools:\r{{ tools | length }}\r\n");
        ChatTemplate t = ChatTemplate.FromDirectory(_dir)!;
        Assert.Equal("<|user|>\nhi\n<|assistant|>\nyes\n", t.Render([new("user", "hi"), new("assistant", "yes")], false));
        Assert.Equal("tools:\n0", t.Render([], false, tools: [])); // Jinja drops one trailing line end
    }

    [Fact]
    public void Additional_chat_templates_are_named_templates_beside_the_jinja_file_as_in_transformers()
    {
        // transformers saves a list's default to chat_template.jinja and the others to additional_chat_templates/NAME.jinja,
        // and reads them back as the list: tools choose tool_use. Unread, a model saved so rendered tool calls with
        // its default template, which does not know the tools.
        File.WriteAllText(Path.Combine(_dir, "chat_template.jinja"), "plain");
        Directory.CreateDirectory(Path.Combine(_dir, "additional_chat_templates"));
        File.WriteAllText(Path.Combine(_dir, "additional_chat_templates", "tool_use.jinja"), "tools:{{ tools | length }}");
        ChatTemplate t = ChatTemplate.FromDirectory(_dir)!;
        Assert.Equal("plain", t.Render([], false));
        Assert.Equal("tools:0", t.Render([], false, tools: []));
        t = Load("""{"bos_token": "<s>"}""")!;
        Assert.Equal("tools:0", t.Render([], false, tools: []));
    }

    [Fact]
    public void Special_tokens_are_read_as_strings_or_added_token_objects()
    {
        ChatTemplate t = Load("""
            {"chat_template": "{{ bos_token }}|{{ eos_token }}|{{ unk_token }}|{{ pad_token }}",
             "bos_token": {"__type": "AddedToken", "content": "<B>", "lstrip": false},
             "eos_token": "<E>", "unk_token": null, "pad_token": ""}
            """)!;
        Assert.Equal("<B>|<E>||", t.Render([], false));
        Assert.Equal(2, t.SpecialTokens.Count);
        var direct = new ChatTemplate("{{ bos_token is defined }}|{{ eos_token }}", new Dictionary<string, string> { ["bos_token"] = "", ["eos_token"] = "</s>" });
        Assert.Equal("False|</s>", direct.Render([], false));
    }

    [Fact]
    public void Named_list_uses_tool_use_when_tools_are_given_else_default()
    {
        ChatTemplate t = Load("""
            {"chat_template": [{"name": "default", "template": "plain"}, {"name": "tool_use", "template": "tools:{{ tools | length }}"}]}
            """)!;
        Assert.Equal("plain", t.Render([], false));
        Assert.Equal("tools:0", t.Render([], false, tools: []));
        ChatTemplate onlyRag = Load("""{"chat_template": [{"name": "rag", "template": "x"}]}""")!;
        var e = Assert.Throws<ChatTemplateException>(() => onlyRag.Render([], false));
        Assert.Contains("no 'default' template", e.Message, StringComparison.Ordinal);
        // An empty list has no names to list: the message ended "; it has ", with nothing after.
        ChatTemplate empty = Load("""{"chat_template": []}""")!;
        e = Assert.Throws<ChatTemplateException>(() => empty.Render([], false));
        Assert.EndsWith("the chat_template list has no 'default' template; it has no templates", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"chat_template\": 5}", "chat_template must be a string or a list")]
    [InlineData("{\"chat_template\": [{\"name\": 1}]}", "chat_template[0] must be")]
    [InlineData("{\"chat_template\": \"x\", \"bos_token\": 3}", "bos_token must be a string")]
    [InlineData("{\"chat_template\": ", "not valid JSON")]
    public void Malformed_configs_are_refused_with_the_file_and_field(string json, string message)
    {
        var e = Assert.Throws<ChatTemplateException>(() => Load(json));
        Assert.Contains("tokenizer_config.json", e.Message, StringComparison.Ordinal);
        Assert.Contains(message, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Message_fields_tools_and_extra_accept_dotnet_values_and_json_nodes()
    {
        var t = new ChatTemplate("{% for m in messages %}{{ m | tojson }};{% endfor %}{{ tools | tojson }};{{ flag }};{{ add_generation_prompt }}");
        var call = new Dictionary<string, object?>
        {
            ["type"] = "function",
            ["function"] = new Dictionary<string, object?> { ["name"] = "f", ["arguments"] = new Dictionary<string, object?> { ["b"] = 1.5, ["1"] = true } },
        };
        ChatTemplateMessage[] messages =
        [
            new("user", "hi"),
            new("assistant", null, new Dictionary<string, object?> { ["tool_calls"] = new[] { call } }),
        ];
        // JSON 2.0 stays a float, a boolean prints True and keys keep their order ("1" after "b"), as Python transformers writes them.
        object[] tools = [JsonNode.Parse("""{"name": "f", "n": 2.0, "list": [1, "x", null]}""")!];
        string text = t.Render(messages, false, tools, new Dictionary<string, object?> { ["flag"] = 3L, ["add_generation_prompt"] = true });
        Assert.Equal("""
            {"role": "user", "content": "hi"};{"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"b": 1.5, "1": true}}}]};[{"name": "f", "n": 2.0, "list": [1, "x", null]}];3;True
            """, text);
    }

    [Fact]
    public void Extra_may_not_redefine_builtin_names_and_messages_may_not_repeat_role()
    {
        var t = new ChatTemplate("x");
        var e = Assert.Throws<ChatTemplateException>(() => t.Render([], false, extra: new Dictionary<string, object?> { ["true"] = false }));
        Assert.Contains("'true' is already defined", e.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => t.Render([new("user", "x", new Dictionary<string, object?> { ["role"] = "system" })], false));
        Assert.Throws<ArgumentException>(() => t.Render([], false, extra: new Dictionary<string, object?> { ["when"] = DateTime.UnixEpoch }));
    }

    /// <summary>JSON input escaping half a surrogate pair, in a value or a name, is refused as an input error naming it, not System.Text.Json's InvalidOperationException.</summary>
    [Fact]
    public void Json_input_holding_half_a_surrogate_pair_is_refused_naming_it()
    {
        var t = new ChatTemplate("{{ x }}");
        foreach (string json in new[] { "{\"a\": [\"\\ud83d\"]}", "{\"a\": {\"\\udc00\": 1}}" })
        {
            using JsonDocument doc = JsonDocument.Parse(json);
            var e = Assert.Throws<ArgumentException>(() => t.Render([], false, extra: new Dictionary<string, object?> { ["x"] = doc.RootElement }));
            Assert.StartsWith("chat template input x.a", e.Message, StringComparison.Ordinal);
            Assert.Contains("an escaped half of a surrogate pair", e.Message, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Input nested deeper than a template may write is refused as an input error. Before, nested lists 100000 deep
    /// overflowed the stack while being converted (killing the process), and a JsonNode deeper than 64 levels escaped as
    /// a JsonException ("The object or value could not be serialized").
    /// </summary>
    [Fact]
    public void Input_nested_past_the_limit_is_an_argument_error_and_json_nodes_convert_to_it()
    {
        var t = new ChatTemplate("{{ tools | tojson }}");
        object list = new List<object?>();
        JsonNode node = new JsonArray();
        for (int i = 1; i < 999; i++)
        {
            list = new List<object?> { list };
            node = new JsonArray(node);
        }
        // tools itself is one more level: 1000 in all, the most that can be written.
        Assert.Equal(new string('[', 1000) + new string(']', 1000), t.Render([], false, [list]));
        Assert.Equal(new string('[', 1000) + new string(']', 1000), t.Render([], false, [node]));

        for (int i = 0; i < 100000; i++)
        {
            list = new List<object?> { list };
        }
        var e = Assert.Throws<ArgumentException>(() => t.Render([], false, [list]));
        Assert.StartsWith("chat template input tools[0][0][0]", e.Message, StringComparison.Ordinal);
        Assert.Contains("nested deeper than 1000 levels", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<ArgumentException>(() => t.Render([], false, [new JsonArray(node)]));
        Assert.Contains("nested deeper than 1000 levels", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rendering_is_thread_safe()
    {
        ChatTemplate t = ChatTemplate.FromDirectory(TestData.Path("tokenizers", "qwen3"))!;
        ChatTemplateMessage[] messages = [new("system", "s"), new("user", "u"), new("assistant", "<think>r</think>a"), new("user", "v")];
        string expected = t.Render(messages, true);
        string[] results = new string[64];
        Parallel.For(0, results.Length, i => results[i] = t.Render(messages, true));
        Assert.All(results, r => Assert.Equal(expected, r));
    }
}
