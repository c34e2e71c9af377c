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
        // Llama 3.1: the whole reply is the call, parameters (or arguments); several joined by ';'; the python tag.
        { "llama3_json", "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "", ["get_weather {\"city\": \"Paris\"}"] },
        { "llama3_json", " <|python_tag|>{\"name\": \"get_time\", \"arguments\": {\"tz\": \"CET\"}}; {\"name\": \"get_weather\", \"parameters\": {}}", "", ["get_time {\"tz\": \"CET\"}", "get_weather {}"] },
        { "llama3_json", "The weather is {\"sunny\"}.", "The weather is {\"sunny\"}.", [] },
        { "llama3_json", "{\"name\": \"get_time\"} trailing", "{\"name\": \"get_time\"} trailing", [] },
        { "llama3_json", "{\"answer\": 4}", "{\"answer\": 4}", [] },
        { "llama3_json", "<b>bold</b>", "<b>bold</b>", [] },
    };

    [Theory]
    [MemberData(nameof(Replies))]
    public void A_reply_splits_into_content_and_calls_whole_and_in_every_piece_size(string format, string reply, string content, string[] calls)
    {
        ToolCallFormat f = ToolCallFormats.ByName[format];
        (string wholeContent, IReadOnlyList<ToolCall> wholeCalls) = ToolCallSplitter.Split(reply, f, s_tools);
        Assert.Equal(content, wholeContent);
        Assert.Equal(calls, wholeCalls.Select(c => $"{c.Name} {c.Arguments}"));
        for (int size = 1; size <= 7; size++)
        {
            var splitter = new ToolCallSplitter(f, s_tools);
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

    [Theory]
    [InlineData("qwen2.5-tools", "hermes")]
    [InlineData("granite4-tools", "hermes")]
    [InlineData("qwen3", "hermes")]
    [InlineData("llama3.1-tools", "llama3_json")]
    [InlineData("qwen3-coder-macro", "none")]
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
