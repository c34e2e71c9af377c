using Copal.Model.Serving;
using Copal.Model.Tokenization;

namespace Copal.Model.Tests.Tokenization;

/// <summary>
/// Stop texts over a decode stream, as the engine runs them: a stop text split across tokens, across the bytes of one
/// character (byte fallback's &lt;0xE2&gt;&lt;0x82&gt;&lt;0xAC&gt;, byte-level pieces of emoji), one that starts with
/// a space or at the first token. The text released is the full decode up to the first stop text, never any of it;
/// what might still begin one is held back, and released at the end when none completed.
/// </summary>
public class StopTextStreamTests
{
    public static TheoryData<string> Names() => new() { "gpt2", "llama3", "qwen3", "llama2", "stories260K" };

    private const string Text = "Price: 5€ 😀👍🏽 and 日本語 stop here, then more words! 😀 end";

    [Theory]
    [MemberData(nameof(Names))]
    public void A_stop_text_ends_the_text_where_it_first_appears(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        int[] ids = t.Encode(Text);
        string full = t.Decode(ids);
        Assert.Equal(Text, full);
        string[] stops = ["€", "5€ 😀", "😀", "👍🏽", "🏽", " and", " 日本", "本語 s", "P", "Price: 5€ 😀👍🏽 and 日本語 stop here, then more words! 😀 end", "!", " end"];
        foreach (string stop in stops)
        {
            (string released, bool matched) = Run(t, ids, [stop]);
            Assert.True(matched, $"{name}: '{stop}' was not found");
            Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], released);
        }
        // Two stop texts: the one that appears first wins, whichever is listed first.
        Assert.Equal(full[..full.IndexOf("😀", StringComparison.Ordinal)], Run(t, ids, ["日本", "😀"]).Released);
    }

    /// <summary>
    /// Two stop texts that complete in one piece of text (a token of several characters, or held text and the next
    /// piece): the text ends at the one that starts first, not at the one listed first nor the one found last.
    /// </summary>
    [Fact]
    public void Stop_texts_completed_by_one_piece_end_the_text_at_the_earliest()
    {
        Assert.Equal("x", new StopTextMatcher(["b", "a"]).Push("xaby", out bool matched));
        Assert.True(matched);
        var matcher = new StopTextMatcher(["yz", "ab"]);
        Assert.Equal("x", matcher.Push("xa", out matched)); // "a" may start "ab": held
        Assert.False(matched);
        Assert.Equal("", matcher.Push("byz", out matched));
        Assert.True(matched);
    }

    /// <summary>
    /// Text is held for the stop text it may begin that is longest: a shorter start of another stop text at its end
    /// does not release the longer one's ("ab" of "abc" stays held, though only "b" may begin "bx").
    /// </summary>
    [Fact]
    public void The_longest_possible_start_of_any_stop_text_is_held()
    {
        var matcher = new StopTextMatcher(["abc", "bx"]);
        Assert.Equal("x", matcher.Push("xab", out bool matched));
        Assert.False(matched);
        Assert.Equal(2, matcher.Held);
        Assert.Equal("", matcher.Push("c", out matched));
        Assert.True(matched);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Text_held_for_a_stop_text_that_never_completes_is_released_at_the_end(string name)
    {
        CopalTokenizer t = Tokenizers.Get(name);
        int[] ids = t.Encode(Text);
        foreach (string stop in new[] { " endless", "😀x", "€€", "end!" })
        {
            (string released, bool matched) = Run(t, ids, [stop]);
            Assert.False(matched);
            Assert.Equal(t.Decode(ids), released);
        }
    }

    private static (string Released, bool Matched) Run(CopalTokenizer t, int[] ids, string[] stops)
    {
        TokenDecoderStream stream = t.CreateDecoderStream();
        var matcher = new StopTextMatcher(stops);
        var released = new System.Text.StringBuilder();
        foreach (int id in ids)
        {
            string piece = matcher.Push(stream.Push(id), out bool matched);
            // Never a part of a stop text: what is released is followed by nothing a stop text could complete.
            released.Append(piece);
            if (matched)
            {
                return (released.ToString(), true);
            }
        }
        released.Append(matcher.Flush(stream.Flush()));
        return (released.ToString(), false);
    }
}
