using System.Text.Json;
using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Where the reference (@huggingface/jinja, JavaScript) gave real templates a prompt other than the one Python
/// transformers, vLLM and llama.cpp give them (the prompt the model was trained on): booleans, none, lists and mappings
/// printed as JavaScript prints them, whole floats losing their ".0", and <c>'' == false</c>. Every expected text here
/// is what Jinja2 3.1.6 renders, set up as Python transformers sets it up (tools/chat-templates/python-check.py's
/// environment), from the same template and input.
/// </summary>
public sealed class PythonValuePrintingTests
{
    // Llama 2 chat's template, as @huggingface/ollama-utils 0.0.18 stores it (entry library/llama2:7b, field gguf).
    private const string Llama2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

    // Command-R 35B's template, as @huggingface/ollama-utils 0.0.18 stores it (entry library/command-r:35b, field gguf).
    private const string CommandR = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% elif false == true %}{% set loop_messages = messages %}{% set system_message = 'You are a large language model called Command R built by the company Cohere. You act as a brilliant, sophisticated, AI-assistant chatbot trained to assist human users by providing thorough responses.' %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% if system_message != false %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' + system_message + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% set content = message['content'] %}{% if message['role'] == 'user' %}{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% elif message['role'] == 'assistant' %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>'  + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}";

    private static readonly ChatTemplateMessage[] s_emptySystem = [new("system", ""), new("user", "Hi")];

    [Fact]
    public void An_empty_system_message_is_not_false_so_llama2_writes_its_system_block()
    {
        // JavaScript's '' == false is true, so the reference (and Copal before) wrote "<s>[INST] Hi [/INST]".
        var template = new ChatTemplate(Llama2, new Dictionary<string, string> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" });
        Assert.Equal("<s>[INST] <<SYS>>\n\n<</SYS>>\n\nHi [/INST]", template.Render(s_emptySystem, false));
    }

    [Fact]
    public void An_empty_system_message_is_not_false_so_command_r_writes_its_system_turn()
    {
        var template = new ChatTemplate(CommandR, new Dictionary<string, string> { ["bos_token"] = "<BOS_TOKEN>" });
        Assert.Equal(
            "<BOS_TOKEN><|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|><|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Hi<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
            template.Render(s_emptySystem, true));
    }

    [Theory]
    [InlineData("{{ '' == false }}|{{ '' != false }}|{{ 0 == false }}|{{ 1 == true }}|{{ '1' == 1 }}|{{ 'true' == true }}", "False|True|True|True|False|False")]
    [InlineData("{{ none == undefined_name }}|{{ [1, 2] == [1, 2.0] }}|{{ {'a': [1]} == {'a': [1]} }}|{{ [] == '' }}|{{ none == false }}", "False|True|True|False|False")]
    [InlineData("{{ 1 in [true] }}|{{ 'a' in [['a']] }}|{{ ['a'] in [['a']] }}|{{ [1, '1', none] | select('equalto', 1) | list }}", "True|False|True|[1]")]
    [InlineData("{{ none in [1, none] }}|{{ none not in [1] }}|{{ {'k': [1]} in [{'k': [1.0]}] }}", "True|True|True")]
    public void Equality_is_python_equality(string template, string expected)
    {
        Assert.Equal(expected, new ChatTemplate(template).Render([], false));
    }

    [Theory]
    [InlineData("{{ true }}|{{ false | string }}|{{ none | string }}|{{ [true, none, 'a', 1.5] }}|{{ {'x': none, 'é': true} }}", "True|False|None|[True, None, 'a', 1.5]|{'x': None, 'é': True}")]
    [InlineData("{{ 'x' ~ true ~ 1.0 ~ [1] }}|{{ [1, true, none, 'a', 2.0] | join(',') }}", "xTrue1.0[1]|1,True,None,a,2.0")]
    [InlineData("{{ [\"it's\", 'a\"b', 'x\\\\y\\n', 'é\u200b\u007f'] }}", "[\"it's\", 'a\"b', 'x\\\\y\\n', 'é\\u200b\\x7f']")]
    [InlineData("{{ [1.0, 0.0001, 1.0 / 3] | tojson }}|{{ 2.0 }}|{{ -0.0 }}|{{ 10.0 ** 16 }}|{{ 1 / 100000 }}", "[1.0, 0.0001, 0.3333333333333333]|2.0|-0.0|1e+16|1e-05")]
    [InlineData("{{ {'b': 1, 'a': 2} | dictsort }}|{{ {'b': 1} | items | list | tojson }}", "[('a', 2), ('b', 1)]|[[\"b\", 1]]")]
    [InlineData("{{ (1, 2) }}|{{ (1, 2) | tojson }}|{{ (1, 2) | list }}|{% for p in {'a': 1} | items %}{{ p }}{{ p | list }}{% endfor %}", "(1, 2)|[1, 2]|[1, 2]|('a', 1)['a', 1]")]
    public void Values_print_as_python_str_prints_them(string template, string expected)
    {
        Assert.Equal(expected, new ChatTemplate(template).Render([], false));
    }

    [Fact]
    public void Numbers_given_as_json_or_dotnet_floats_keep_their_float_kind()
    {
        // json.loads reads 1.0 and 1e3 as floats, 2 as an integer; .NET double and decimal are floats.
        var t = new ChatTemplate("{{ j }}|{{ j | tojson }}|{{ n }}|{{ d }}|{{ m }}|{{ i }}");
        using JsonDocument json = JsonDocument.Parse("""{"a": 1.0, "b": 2, "c": 1e3, "d": -0.5E-7}""");
        var extra = new Dictionary<string, object?>
        {
            ["j"] = json.RootElement,
            ["n"] = System.Text.Json.Nodes.JsonValue.Create(1.0),
            ["d"] = 3.0,
            ["m"] = 4m,
            ["i"] = 5,
        };
        Assert.Equal(
            "{'a': 1.0, 'b': 2, 'c': 1000.0, 'd': -5e-08}|{\"a\": 1.0, \"b\": 2, \"c\": 1000.0, \"d\": -5e-08}|1.0|3.0|4.0|5",
            t.Render([], false, null, extra));
    }

    [Fact]
    public void A_dotnet_float_is_the_number_its_json_text_holds()
    {
        // System.Text.Json writes 0.1f as 0.1 and 3.4e38f as 3.4E+38, which json.loads reads as these floats; widened
        // exactly to a double they printed 0.10000000149011612 and 3.3999999521443642e+38. Expected text from Jinja2
        // with x = json.loads("0.1"), y = json.loads("3.4E+38").
        var t = new ChatTemplate("{{ x }}|{{ [x] }}|{{ y | tojson }}|{{ n }}");
        var extra = new Dictionary<string, object?> { ["x"] = 0.1f, ["y"] = 3.4e38f, ["n"] = System.Text.Json.Nodes.JsonValue.Create(0.1f) };
        Assert.Equal("0.1|[0.1]|3.4e+38|0.1", t.Render([], false, null, extra));
    }

    private static readonly string s_tools = """
        [{"type": "function", "function": {"name": "set_temperature", "description": "Sets it.", "parameters": {"type": "object",
          "properties": {"value": {"type": "number", "minimum": 0, "maximum": 1.0}, "units": {"type": "string", "enum": ["c", "f"]}},
          "required": ["value"]}}}]
        """;

    [Fact]
    public void Qwen3_coder_writes_tool_call_arguments_and_schema_numbers_as_python_does()
    {
        ChatTemplate template = ChatTemplate.FromDirectory(ChatTemplateGoldens.TemplateDir("qwen3-coder-macro"))!;
        using JsonDocument tools = JsonDocument.Parse(s_tools);
        using JsonDocument arguments = JsonDocument.Parse("""
            {"filter": {"year": 2024, "tags": ["a", "b"]}, "limit": 3, "exact": true, "cursor": null, "units": ["c", "f"], "temperature": 1.0}
            """);
        string text = template.Render(ToolCallMessages.FindItBySearch(arguments.RootElement), false, tools.RootElement.EnumerateArray().Select(x => (object)x).ToList());
        Assert.Contains("<name>value</name>\n<type>number</type>\n<minimum>0</minimum>\n<maximum>1.0</maximum>\n</parameter>", text, StringComparison.Ordinal);
        Assert.EndsWith("""
            <|im_start|>user
            Find it.<|im_end|>
            <|im_start|>assistant
            <tool_call>
            <function=search>
            <parameter=filter>
            {'year': 2024, 'tags': ['a', 'b']}
            </parameter>
            <parameter=limit>
            3
            </parameter>
            <parameter=exact>
            True
            </parameter>
            <parameter=cursor>
            None
            </parameter>
            <parameter=units>
            ['c', 'f']
            </parameter>
            <parameter=temperature>
            1.0
            </parameter>
            </function>
            </tool_call><|im_end|>
            """ + "\n", text);
    }

    [Fact]
    public void Qwen2_5_writes_a_whole_float_in_a_tool_schema_with_its_point()
    {
        ChatTemplate template = ChatTemplate.FromDirectory(ChatTemplateGoldens.TemplateDir("qwen2.5-tools"))!;
        using JsonDocument tools = JsonDocument.Parse(s_tools);
        string text = template.Render([new("user", "Hi")], false, tools.RootElement.EnumerateArray().Select(x => (object)x).ToList());
        Assert.Contains("""
            {"type": "function", "function": {"name": "set_temperature", "description": "Sets it.", "parameters": {"type": "object", "properties": {"value": {"type": "number", "minimum": 0, "maximum": 1.0}, "units": {"type": "string", "enum": ["c", "f"]}}, "required": ["value"]}}}
            """, text, StringComparison.Ordinal);
    }
}
