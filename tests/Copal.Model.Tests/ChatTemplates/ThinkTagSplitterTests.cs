using Copal.Model.Chat;

namespace Copal.Model.Tests.ChatTemplates;

/// <summary>Reasoning split from the answer at the think tags, whole or piece by piece.</summary>
public sealed class ThinkTagSplitterTests
{
    public static TheoryData<string, string, string, string> Replies => new()
    {
        // Qwen3 thinking: the reply opens the tag; whitespace after each tag is left out.
        { "<|im_start|>assistant\n", "<think>\nThe user greets me.\n</think>\n\nHello!", "The user greets me.\n", "Hello!" },
        // Qwen3 with enable_thinking false: the template wrote an empty block; the reply is all answer.
        { "<|im_start|>assistant\n<think>\n\n</think>\n\n", "Hello!", "", "Hello!" },
        // DeepSeek-R1's template opens the tag in the prompt.
        { "<｜Assistant｜><think>\n", "Let me see.</think>Four.", "Let me see.", "Four." },
        // A tag the conversation mentions opens nothing: only one the template ends the prompt with does.
        { "<|im_start|>user\nWhat does <think> do?<|im_end|>\n<|im_start|>assistant\n", "It marks thoughts.", "", "It marks thoughts." },
        // Never closed (max_tokens mid-thought): all reasoning.
        { "<｜Assistant｜><think>\n", "Still thinking about it", "Still thinking about it", "" },
        { "", "  <think>a</think>", "a", "" },
        // All the whitespace after a tag is left out, however many pieces it comes in.
        { "", "<think>\n\n  a</think>\n \nb", "a", "b" },
        { "<｜Assistant｜><think>", "\n\nLet me see.</think>Four.", "Let me see.", "Four." },
        // A reply that does not open with the tag is content, unchanged, tags and all.
        { "", "  Hello <think>x</think> there", "", "  Hello <think>x</think> there" },
        { "", "<thinking>no</thinking>", "", "<thinking>no</thinking>" },
        { "", "   ", "", "   " },
        { "", "<thin", "", "<thin" },
        // An unfinished close tag at the end is reasoning text.
        { "", "<think>a</thi", "a</thi", "" },
        // A tag the reasoning writes twice: the first close ends it.
        { "", "<think>a</think>b</think>c", "a", "b</think>c" },
    };

    [Theory]
    [MemberData(nameof(Replies))]
    public void A_reply_splits_the_same_whole_and_in_every_two_and_one_character_pieces(string prompt, string reply, string reasoning, string content)
    {
        Assert.Equal((reasoning, content), Split(prompt, [reply]));
        for (int at = 0; at <= reply.Length; at++)
        {
            Assert.Equal((reasoning, content), Split(prompt, [reply[..at], reply[at..]]));
        }
        Assert.Equal((reasoning, content), Split(prompt, reply.Select(c => c.ToString()).ToArray()));
    }

    [Fact]
    public void Text_that_cannot_begin_a_tag_is_handed_out_at_once()
    {
        var splitter = new ThinkTagSplitter("");
        Assert.True(splitter.Push("<thi").IsEmpty);
        Assert.Equal(new ReplyPieces("", ""), splitter.Push("nk>\n"));
        Assert.Equal(new ReplyPieces("Step one", ""), splitter.Push("Step one</th"));
        Assert.Equal(new ReplyPieces("", "Yes"), splitter.Push("ink>\n\nYes"));
        Assert.Equal(new ReplyPieces("", " and no"), splitter.Push(" and no"));
        Assert.True(splitter.Flush().IsEmpty);
    }

    private static (string Reasoning, string Content) Split(string prompt, string[] pieces)
    {
        var splitter = new ThinkTagSplitter(prompt);
        string reasoning = "", content = "";
        foreach (string piece in pieces)
        {
            ReplyPieces p = splitter.Push(piece);
            reasoning += p.Reasoning;
            content += p.Content;
        }
        ReplyPieces last = splitter.Flush();
        return (reasoning + last.Reasoning, content + last.Content);
    }
}
