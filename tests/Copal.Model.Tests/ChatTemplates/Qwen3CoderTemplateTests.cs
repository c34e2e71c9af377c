using Copal.Model.ChatTemplates;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>
/// Qwen3-Coder's template with tools, which no served @huggingface/jinja renders (it lacks <c>reject</c>; 0.5.11 and
/// 0.5.13 both refuse), against text checked by hand against the template's source: the tools as its XML-like list
/// (the keys it handles left out by <c>reject("in", handled_keys)</c>, enum and required as backquoted lists), an
/// assistant's call as <c>&lt;function=…&gt;</c> with one <c>&lt;parameter=…&gt;</c> per argument, a tool result in a
/// user turn.
/// </summary>
public sealed class Qwen3CoderTemplateTests
{
    private const string Tools = """


        You have access to the following functions:

        <tools>
        <function>
        <name>get_current_weather</name>
        <description>Get the current weather in a given location.</description>
        <parameters>
        <parameter>
        <name>location</name>
        <type>string</type>
        <description>The city and state, e.g. San Francisco, CA</description>
        </parameter>
        <parameter>
        <name>unit</name>
        <type>string</type>
        <enum>[`celsius`, `fahrenheit`]</enum>
        </parameter>
        <required>[`location`]</required>
        </parameters>
        </function>
        <function>
        <name>get_time</name>
        <description>Current local time in a time zone.</description>
        <parameters>
        <parameter>
        <name>tz</name>
        <type>string</type>
        <description>IANA zone name</description>
        </parameter>
        </parameters>
        </function>
        </tools>

        If you choose to call a function ONLY reply in the following format with NO suffix:

        <tool_call>
        <function=example_function_name>
        <parameter=example_parameter_1>
        value_1
        </parameter>
        <parameter=example_parameter_2>
        This is the value for the second parameter
        that can span
        multiple lines
        </parameter>
        </function>
        </tool_call>

        <IMPORTANT>
        Reminder:
        - Function calls MUST follow the specified format: an inner <function=...></function> block must be nested within <tool_call></tool_call> XML tags
        - Required parameters MUST be specified
        - You may provide optional reasoning for your function call in natural language BEFORE the function call, but NOT after
        - If there is no function call available, answer the question like normal with your current knowledge and do not tell the user about function calls
        </IMPORTANT><|im_end|>
        """ + "\n";

    [Fact]
    public void Offered_tools_render_as_the_templates_function_list()
    {
        Assert.Equal("<|im_start|>system\nYou can call tools." + Tools
            + """
            <|im_start|>user
            What's the weather in Paris?<|im_end|>
            <|im_start|>assistant
            """ + "\n", Render("tools-offered"));
    }

    [Fact]
    public void A_call_with_object_arguments_renders_as_parameters_and_its_result_as_a_tool_response()
    {
        Assert.Equal("<|im_start|>system\nYou are Qwen, a helpful AI assistant that can interact with a computer to solve tasks." + Tools
            + """
            <|im_start|>user
            What's the weather in Paris?<|im_end|>
            <|im_start|>assistant
            <tool_call>
            <function=get_current_weather>
            <parameter=location>
            Paris, France
            </parameter>
            <parameter=unit>
            celsius
            </parameter>
            </function>
            </tool_call><|im_end|>
            <|im_start|>user
            <tool_response>
            {"temperature": 18, "condition": "cloudy"}
            </tool_response>
            <|im_end|>
            <|im_start|>assistant
            It is 18 °C and cloudy in Paris.<|im_end|>
            <|im_start|>user
            Thanks!<|im_end|>
            <|im_start|>assistant
            """ + "\n", Render("tool-call-roundtrip"));
    }

    [Fact]
    public void A_call_whose_arguments_are_a_string_is_refused_as_jinja2_refuses_items_of_a_string()
    {
        Assert.ThrowsAny<ChatTemplateException>(() => Render("tool-call-null-content"));
    }

    [Fact]
    public void Arguments_that_are_objects_lists_null_or_numbers_render_as_they_print()
    {
        // The template writes a non-string argument with "| string": what "{{ value }}" prints, Python's str() as
        // Jinja2 (and so Python transformers and vLLM) writes it, never a refusal, so a conversation whose earlier call
        // took an object can go on. Expected text: Jinja2 3.1.6 set up as tools/chat-templates/python-check.py sets it up.
        ChatTemplate template = ChatTemplate.FromDirectory(ChatTemplateGoldens.TemplateDir("qwen3-coder-macro"))!;
        var arguments = new Dictionary<string, object?>
        {
            ["filter"] = new Dictionary<string, object?> { ["year"] = 2024, ["tags"] = new List<object?> { "a", "b" } },
            ["limit"] = 3,
            ["exact"] = true,
            ["cursor"] = null,
        };
        string text = template.Render(ToolCallMessages.FindItBySearch(arguments), false);
        Assert.EndsWith("""
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
            </function>
            </tool_call><|im_end|>
            """ + "\n", text);
    }

    private static string Render(string id)
    {
        ChatTemplate template = ChatTemplate.FromDirectory(ChatTemplateGoldens.TemplateDir("qwen3-coder-macro"))!;
        Conversation c = ChatTemplateGoldens.Case(id);
        return template.Render(c.Messages, true, c.Tools, c.Extra);
    }
}
