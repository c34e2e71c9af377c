using System.Text.Json;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.ChatTemplates;
using Copal.Model.Tests.ChatTemplates;

namespace Copal.Model.Tests.Chat;

/// <summary>Tool calls read out of replies in each model family's format, whole or piece by piece, and the format read from real templates.</summary>
public sealed class ToolCallSplitterTests
{
    private static readonly string[] s_tools = ["get_weather", "get_time"];

    public static TheoryData<string, string, string, string[]> Replies => new()
    {
        // Qwen2.5 / Hermes: text, then blocks; arguments an object (or a string holding one).
        { "hermes", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", "", ["get_weather {\"city\": \"Paris\"}"] },
        { "hermes", "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": \"{\\\"tz\\\": \\\"CET\\\"}\"}\n</tool_call>",
            "Let me check.\n", ["get_weather {\"city\": \"Paris\"}", "get_time {\"tz\": \"CET\"}"] },
        // The last block unclosed (the reply ended at the end-of-turn token); no arguments at all.
        { "hermes", "<tool_call>\n{\"name\": \"get_time\"}", "", ["get_time {}"] },
        // A closing tag inside an argument's string is text of the argument, not the block's end.
        { "hermes", "<tool_call>{\"name\": \"get_time\", \"arguments\": {\"s\": \"a </tool_call> b\"}}</tool_call>", "", ["get_time {\"s\": \"a </tool_call> b\"}"] },
        { "hermes", "<tool_call>{\"name\": \"get_time\", \"arguments\": {\"s\": \"</tool_call>\"}}", "", ["get_time {\"s\": \"</tool_call>\"}"] },
        // What does not read is content, whole: cut JSON, an unknown function, text after the calls, arguments not an object.
        { "hermes", "<tool_call>\n{\"name\": \"get_weather\", \"argu", "<tool_call>\n{\"name\": \"get_weather\", \"argu", [] },
        { "hermes", "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>", "<tool_call>{\"name\": \"rm_rf\", \"arguments\": {}}</tool_call>", [] },
        { "hermes", "<tool_call>{\"name\": \"get_time\"}</tool_call> and more", "<tool_call>{\"name\": \"get_time\"}</tool_call> and more", [] },
        { "hermes", "<tool_call>{\"name\": \"get_time\", \"arguments\": [1]}</tool_call>", "<tool_call>{\"name\": \"get_time\", \"arguments\": [1]}</tool_call>", [] },
        { "hermes", "No tools needed: 2 < 3.", "No tools needed: 2 < 3.", [] },
        { "hermes", "ends with <tool_ca", "ends with <tool_ca", [] },
        // Arguments past ASCII: the block's end is found by characters, not by the JSON's UTF-8 bytes.
        { "hermes", "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Z\u00fcrich\"}}</tool_call>\n<tool_call>{\"name\": \"get_time\"}</tool_call>",
            "", ["get_weather {\"city\": \"Z\u00fcrich\"}", "get_time {}"] },
        // A block closed by anything but </tool_call> (here a tag as long as it) does not read; nor do arguments in a
        // string that holds JSON other than an object (a caller could not make that call).
        { "hermes", "<tool_call>{\"name\": \"get_time\"}</tool-call>", "<tool_call>{\"name\": \"get_time\"}</tool-call>", [] },
        { "hermes", "<tool_call>{\"name\": \"get_time\", \"arguments\": \"[1]\"}</tool_call>", "<tool_call>{\"name\": \"get_time\", \"arguments\": \"[1]\"}</tool_call>", [] },
        // Llama 3.1: the whole reply is the call, parameters (or arguments); several joined by ';'; the python tag.
        { "llama3_json", "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "", ["get_weather {\"city\": \"Paris\"}"] },
        { "llama3_json", " <|python_tag|>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}; {\"name\": \"get_weather\", \"parameters\": {}}", "", ["get_time {\"tz\": \"CET\"}", "get_weather {}"] },
        // Both keys: arguments, as vLLM's llama3_json parser takes them whole (its streaming refuses such a call, and
        // llama.cpp reads parameters only, as the key right after the name, then expects the object's end).
        { "llama3_json", "{\"name\": \"get_time\", \"parameters\": {\"tz\": \"UTC\"}, \"arguments\": {\"tz\": \"CET\"}}", "", ["get_time {\"tz\": \"CET\"}"] },
        { "llama3_json", "{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}, \"parameters\": {\"tz\": \"UTC\"}}", "", ["get_time {\"tz\": \"CET\"}"] },
        { "llama3_json", "The weather is {\"sunny\"}.", "The weather is {\"sunny\"}.", [] },
        { "llama3_json", "{\"name\": \"get_time\"} trailing", "{\"name\": \"get_time\"} trailing", [] },
        // Calls joined by anything but ';' do not read (a comma is not the format's separator).
        { "llama3_json", "{\"name\": \"get_time\"}, {\"name\": \"get_weather\"}", "{\"name\": \"get_time\"}, {\"name\": \"get_weather\"}", [] },
        { "llama3_json", "{\"answer\": 4}", "{\"answer\": 4}", [] },
        { "llama3_json", "<b>bold</b>", "<b>bold</b>", [] },
        // Line breaks between the calls and after the last are whitespace like any other.
        { "llama3_json", "{\"name\": \"get_time\", \"parameters\": {}};\n{\"name\": \"get_weather\", \"parameters\": {}}\n", "", ["get_time {}", "get_weather {}"] },
        // The python tag and nothing after it makes no call: the reply is its text, not nothing.
        { "llama3_json", "<|python_tag|>", "<|python_tag|>", [] },
        { "llama3_json", " <|python_tag|>\n", " <|python_tag|>\n", [] },
    };

    [Theory]
    [MemberData(nameof(Replies))]
    public void A_reply_splits_into_content_and_calls_whole_and_in_every_piece_size(string format, string reply, string content, string[] calls) =>
        AssertSplits(ToolCallFormats.ByName[format], reply, content, calls, schemas: null);

    // Qwen3-Coder's values are typed by the schema: get_weather declares these parameters (and no others), get_time gives none.
    private static readonly KeyValuePair<string, JsonElement?>[] s_schemas =
    [
        new("get_weather", JsonDocument.Parse("""
            {"type": "object", "additionalProperties": false, "properties": {
              "city": {"type": "string"}, "days": {"type": "integer"}, "metric": {"type": "boolean"}, "lat": {"type": "number"},
              "opts": {"type": "object"}, "tags": {"type": "array"}, "note": {"type": ["string", "null"]}, "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
              "m": {"type": ["null", "integer"]}, "k": {"type": " Integer "}}}
            """).RootElement),
        new("get_time", null),
    ];

    private static string Block(string function, params string[] parameters) =>
        $"<tool_call>\n<function={function}>\n{string.Concat(parameters.Select(p => $"<parameter={p[..p.IndexOf('=')]}>\n{p[(p.IndexOf('=') + 1)..]}\n</parameter>\n"))}</function>\n</tool_call>";

    public static TheoryData<string, string, string[]> Qwen3CoderReplies => new()
    {
        // One call, as the template teaches it; text before the calls, and several calls.
        { Block("get_weather", "city=Paris", "days=3"), "", ["get_weather {\"city\": \"Paris\", \"days\": 3}"] },
        { "Let me check.\n" + Block("get_weather", "city=Paris") + "\n" + Block("get_time", "tz=CET"),
            "Let me check.\n", ["get_weather {\"city\": \"Paris\"}", "get_time {\"tz\": \"CET\"}"] },
        // Each type as vLLM converts it: integers and numbers (integral ones as integers), booleans in any case, JSON
        // objects and arrays (written again with Python's separators), null for a type that is not a string.
        { Block("get_weather", "days= 7 ", "lat=48.85", "metric=True", "opts={\"a\":[1,2.5]}", "tags=[\"x\",\"y\"]", "n=null", "note=None"), "",
            ["get_weather {\"days\": 7, \"lat\": 48.85, \"metric\": true, \"opts\": {\"a\": [1, 2.5]}, \"tags\": [\"x\", \"y\"], \"n\": null, \"note\": null}"] },
        { Block("get_weather", "lat=2.0", "days=-12_000", "n=0.00001"), "", ["get_weather {\"lat\": 2, \"days\": -12000, \"n\": \"0.00001\"}"] },
        // A type list's first type that is not null, a type name in any case and with spaces; null for an integer.
        { Block("get_weather", "m=1_000", "k=+6", "days=None"), "", ["get_weather {\"m\": 1000, \"k\": 6, \"days\": null}"] },
        // Python's int() takes single underscores between digits only.
        { Block("get_weather", "days=1_", "m=1__0", "k=_1"), "", ["get_weather {\"days\": \"1_\", \"m\": \"1__0\", \"k\": \"_1\"}"] },
        // Numbers as Python writes vLLM's value: a small one as repr writes it (1e-05), an integral one as an integer
        // however large (int(1e16)), never .NET's exponent form.
        { Block("get_weather", "lat=0.00001"), "", ["get_weather {\"lat\": 1e-05}"] },
        // An object of several members, written again with Python's ", " and ": ".
        { Block("get_weather", "opts={\"a\":1,\"b\":{\"c\":null,\"d\":true}}"), "", ["get_weather {\"opts\": {\"a\": 1, \"b\": {\"c\": null, \"d\": true}}}"] },
        { Block("get_weather", "lat=1e16"), "", ["get_weather {\"lat\": 10000000000000000}"] },
        // Control characters escaped as json.dumps escapes them: \b and \f by name, the rest as \u00XX.
        { Block("get_weather", "city=a\bb\fc\u0001d"), "", ["get_weather {\"city\": \"a\\bb\\fc\\u0001d\"}"] },
        // A string stays text, "null" too; text that is not its type stays text; a boolean other than true is false.
        { Block("get_weather", "city=null", "days=three", "lat=inf", "opts={bad", "metric=yes"), "",
            ["get_weather {\"city\": \"null\", \"days\": \"three\", \"lat\": \"inf\", \"opts\": \"{bad\", \"metric\": false}"] },
        // A parameter the schema does not declare is kept as text, as vLLM keeps it, though additionalProperties is false.
        { Block("get_weather", "unit=3"), "", ["get_weather {\"unit\": \"3\"}"] },
        // A function without a schema takes every value as text; no parameters is {}; a name given twice keeps its last value.
        { Block("get_time", "tz=1", "tz=2"), "", ["get_time {\"tz\": \"2\"}"] },
        { "<tool_call>\n<function=get_time>\n</function>\n</tool_call>", "", ["get_time {}"] },
        // Values span lines and keep their text: escapes, characters past ASCII, a </parameter> the next parameter does not follow.
        { Block("get_weather", "city=Z\u00fcrich \"old\"\ttown\nline 2", "note=x = '</parameter>'\ny"), "",
            ["get_weather {\"city\": \"Z\u00fcrich \\\"old\\\"\\ttown\\nline 2\", \"note\": \"x = '</parameter>'\\ny\"}"] },
        // The last block unclosed (the reply ended at the end-of-turn token).
        { "<tool_call>\n<function=get_time>\n<parameter=tz>\nUTC\n</parameter>\n</function>", "", ["get_time {\"tz\": \"UTC\"}"] },
        // What does not read is content, whole: a block cut short, a function not offered, text after the calls,
        // a function outside <tool_call>, a tag that never completes.
        { "<tool_call>\n<function=get_weather>\n<parameter=city>\nPar", "<tool_call>\n<function=get_weather>\n<parameter=city>\nPar", [] },
        { "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</tool_call>", "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</tool_call>", [] },
        { Block("rm_rf", "path=/"), Block("rm_rf", "path=/"), [] },
        { Block("get_time") + " Done.", Block("get_time") + " Done.", [] },
        { "<function=get_time>\n</function>", "<function=get_time>\n</function>", [] },
        { "2 < 3 <tool_ca", "2 < 3 <tool_ca", [] },
        // A block closed by anything but </tool_call>; a parameter with no name, or a name that is no tag's (a '<' in it).
        { Block("get_time")[..^"</tool_call>".Length] + "</tool-call>", Block("get_time")[..^"</tool_call>".Length] + "</tool-call>", [] },
        { Block("get_time", "=CET"), Block("get_time", "=CET"), [] },
        { Block("get_time", "x<y=1"), Block("get_time", "x<y=1"), [] },
    };

    [Theory]
    [MemberData(nameof(Qwen3CoderReplies))]
    public void A_qwen3_coder_reply_splits_into_content_and_typed_calls_whole_and_in_every_piece_size(string reply, string content, string[] calls) =>
        AssertSplits(ToolCallFormat.Qwen3Coder, reply, content, calls, s_schemas);

    /// <summary>A forced call is held to a JSON schema whatever the format (as vLLM does for every parser): a Qwen3-Coder model's reply is the arguments' JSON.</summary>
    [Fact]
    public void A_forced_call_of_a_qwen3_coder_model_is_read_as_json_arguments()
    {
        var tools = new OfferedTools([], ["get_weather", "get_time"], ToolCallFormat.Qwen3Coder, Parallel: true) { Forced = true, ForcedName = "get_weather", Parameters = s_schemas };
        ToolCallSplitter splitter = tools.Splitter();
        Assert.Equal("", splitter.Push("{\"city\": \"Paris\", \"days\": 3}"));
        (string content, IReadOnlyList<ToolCall> calls) = splitter.Finish();
        Assert.Equal("", content);
        Assert.Equal(["get_weather {\"city\": \"Paris\", \"days\": 3}"], calls.Select(c => $"{c.Name} {c.Arguments}"));
        Assert.Equal("object", tools.Schema().GetProperty("type").GetString());
    }

    /// <summary>A forced call's reply that is JSON but no object (a schema that let it through) is no call: it is content.</summary>
    [Theory]
    [InlineData("42")]
    [InlineData("\"get_time\"")]
    [InlineData("null")]
    public void A_forced_reply_that_is_not_an_object_is_content(string reply)
    {
        ToolCallSplitter splitter = ToolCallSplitter.Forced("get_time", s_tools);
        Assert.Equal("", splitter.Push(reply));
        (string content, IReadOnlyList<ToolCall> calls) = splitter.Finish();
        Assert.Equal(reply, content);
        Assert.Empty(calls);
    }

    private static void AssertSplits(ToolCallFormat f, string reply, string content, string[] calls, KeyValuePair<string, JsonElement?>[]? schemas)
    {
        string[] names = schemas?.Select(s => s.Key).ToArray() ?? s_tools;
        (string wholeContent, IReadOnlyList<ToolCall> wholeCalls) = ToolCallSplitter.Split(reply, f, names, schemas);
        Assert.Equal(content, wholeContent);
        Assert.Equal(calls, wholeCalls.Select(c => $"{c.Name} {c.Arguments}"));
        for (int size = 1; size <= 7; size++)
        {
            var splitter = new ToolCallSplitter(f, names, schemas);
            string streamed = "";
            for (int at = 0; at < reply.Length; at += size)
            {
                streamed += splitter.Push(reply.Substring(at, Math.Min(size, reply.Length - at)));
            }
            (string rest, IReadOnlyList<ToolCall> streamedCalls) = splitter.Finish();
            Assert.Equal(content, streamed + rest);
            Assert.Equal(calls, streamedCalls.Select(c => $"{c.Name} {c.Arguments}"));
        }
    }

    [Fact]
    public void Content_before_a_call_streams_as_it_comes_and_only_a_possible_tag_is_held()
    {
        var splitter = new ToolCallSplitter(ToolCallFormat.Hermes, s_tools);
        Assert.Equal("Let me ", splitter.Push("Let me "));
        Assert.Equal("check.", splitter.Push("check.<tool"));
        Assert.Equal("", splitter.Push("_call>{\"name\": \"get_time\"}</tool_call>"));
        (string content, IReadOnlyList<ToolCall> calls) = splitter.Finish();
        Assert.Equal("", content);
        Assert.Equal(["get_time"], calls.Select(c => c.Name));
    }

    /// <summary>
    /// Only an end that can still grow into the tag is held: text that merely contains part of it ("tool", "call>")
    /// streams at once, and in Llama 3's format a reply whose '&lt;' turns out to begin no python tag streams from there.
    /// </summary>
    [Fact]
    public void Text_that_cannot_begin_a_call_is_not_held()
    {
        var hermes = new ToolCallSplitter(ToolCallFormat.Hermes, s_tools);
        Assert.Equal("a tool", hermes.Push("a tool"));
        Assert.Equal(" to call>", hermes.Push(" to call>"));
        Assert.Equal(("", 0), (hermes.Finish().Content, hermes.Finish().Calls.Count));
        var llama = new ToolCallSplitter(ToolCallFormat.Llama3Json, s_tools);
        Assert.Equal("", llama.Push("<"));
        Assert.Equal("<b>bold", llama.Push("b>bold"));
        Assert.Equal("</b>", llama.Push("</b>"));
        (string content, IReadOnlyList<ToolCall> calls) = llama.Finish();
        Assert.Equal("", content);
        Assert.Empty(calls);
    }

    [Theory]
    [InlineData("qwen2.5-tools", "hermes")]
    [InlineData("granite4-tools", "hermes")]
    [InlineData("qwen3", "hermes")]
    [InlineData("llama3.1-tools", "llama3_json")]
    [InlineData("qwen3-coder-macro", "qwen3_coder")]
    [InlineData("mistral-instruct", "none")]
    [InlineData("smollm2-chatml", "none")]
    public void The_format_is_read_from_the_models_own_template(string template, string format)
    {
        ChatTemplate t = ChatTemplate.FromDirectory(ChatTemplateGoldens.TemplateDir(template))!;
        Assert.Equal(format, ToolCallFormats.Name(ToolCallFormats.Detect(t).Format));
    }

    [Fact]
    public void Without_a_template_there_is_no_format_and_the_reason_says_why()
    {
        (ToolCallFormat format, string reason) = ToolCallFormats.Detect(null);
        Assert.Equal(ToolCallFormat.None, format);
        Assert.Equal("the model has no chat template, so nothing shows it how to call a tool", reason);
    }
}
