using System.Text;
using System.Text.Json;
using Copal.Model.Generation.Constraints;

namespace Copal.Model.Tests.Generation.Constraints;

public class JsonPrefixTests
{
    private static JsonPrefix After(string text) => After(Encoding.UTF8.GetBytes(text));

    private static JsonPrefix After(ReadOnlySpan<byte> bytes)
    {
        var state = new JsonPrefix();
        for (int i = 0; i < bytes.Length; i++)
        {
            Assert.True(state.TryAdvance(bytes[i]), $"byte {i} (0x{bytes[i]:X2}) of {Encoding.UTF8.GetString(bytes)} was refused");
        }
        return state;
    }

    /// <summary>The index of the first byte the automaton refuses, or -1 when it takes them all.</summary>
    private static int Refusal(ReadOnlySpan<byte> bytes, out JsonPrefix state)
    {
        state = new JsonPrefix();
        for (int i = 0; i < bytes.Length; i++)
        {
            if (!state.TryAdvance(bytes[i]))
            {
                return i;
            }
        }
        return -1;
    }

    [Fact]
    public void Every_prefix_of_generated_documents_is_taken_and_only_the_whole_is_complete()
    {
        var documents = new JsonDocuments(seed: 1);
        for (int d = 0; d < 400; d++)
        {
            byte[] doc = documents.Next();
            Assert.True(JsonDocuments.IsJsonModeText(doc), Encoding.UTF8.GetString(doc));
            var state = new JsonPrefix();
            for (int i = 0; i < doc.Length; i++)
            {
                Assert.False(state.IsComplete, $"complete before byte {i} of {Encoding.UTF8.GetString(doc)}");
                Assert.True(state.TryAdvance(doc[i]), $"byte {i} (0x{doc[i]:X2}) of {Encoding.UTF8.GetString(doc)} was refused");
                Assert.True(JsonDocuments.CanComplete(state), $"no completion after byte {i} of {Encoding.UTF8.GetString(doc)}");
            }
            Assert.True(state.IsComplete, Encoding.UTF8.GetString(doc));
        }
    }

    [Fact]
    public void A_corrupted_document_is_complete_exactly_when_System_Text_Json_takes_it_and_no_prefix_is_a_dead_end()
    {
        // Bytes that matter to JSON's grammar or to UTF-8, and sometimes any byte.
        byte[] telling = [.. "{}[]\":,\\/ \t\r\n0123456789.eE+-truefalsnbuDdCc"u8, 0x00, 0x1F, 0x7F, 0x80, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF];
        var documents = new JsonDocuments(seed: 2);
        var rng = new Random(3);
        int valid = 0, invalid = 0;
        for (int d = 0; d < 300; d++)
        {
            byte[] doc = documents.Next();
            for (int k = 0; k < 25; k++)
            {
                byte[] corrupted = (byte[])doc.Clone();
                int at = rng.Next(doc.Length);
                byte b = rng.Next(4) == 0 ? (byte)rng.Next(256) : telling[rng.Next(telling.Length)];
                if (b == doc[at])
                {
                    continue;
                }
                corrupted[at] = b;
                int refused = Refusal(corrupted, out JsonPrefix state);
                bool complete = refused < 0 && state.IsComplete;
                bool expected = JsonDocuments.IsJsonModeText(corrupted);
                string text = $"0x{b:X2} at {at} of {Encoding.UTF8.GetString(doc)}";
                Assert.True(expected == complete, $"System.Text.Json {(expected ? "takes" : "refuses")} the text with {text}, the automaton {(refused >= 0 ? $"refused byte {refused}" : complete ? "takes it" : "is not complete at its end")}");
                // The bytes before the corruption are the original's, which the automaton takes: a refusal comes at it or later.
                Assert.True(refused < 0 || refused >= at, text);
                Assert.True(JsonDocuments.CanComplete(state), $"no completion where the automaton stopped, with {text}");
                _ = expected ? valid++ : invalid++;
            }
        }
        // Both sides of the property were exercised.
        Assert.True(valid > 500 && invalid > 2000, $"{valid} valid and {invalid} invalid corruptions");
    }

    [Theory]
    [InlineData("")]
    [InlineData("{\n ")]
    [InlineData("{")]
    [InlineData("{\"a")]
    [InlineData("{\"a\":[1,{\"b\":\"\\uD83D")]
    [InlineData("{\"a\":tr")]
    [InlineData("{\"a\":-0.5E")]
    [InlineData("{\"\u00e9\":\"\U0001F600")]
    public void Any_prefix_can_be_completed(string prefix) => Assert.True(JsonDocuments.CanComplete(After(prefix)));

    [Theory]
    [InlineData("[")]
    [InlineData(" {}")]
    [InlineData("\n{}")]
    [InlineData("\"a\"")]
    [InlineData("1")]
    [InlineData("true")]
    [InlineData("null")]
    public void The_reply_starts_with_the_opening_brace_of_an_object(string text) => Assert.Equal(0, Refusal(Encoding.UTF8.GetBytes(text), out _));

    [Theory]
    [InlineData("{}", " ")]
    [InlineData("{}", "\n")]
    [InlineData("{}", "}")]
    [InlineData("{}", "{")]
    [InlineData("{\"a\":[]}", ",")]
    public void Nothing_follows_the_object(string whole, string next)
    {
        JsonPrefix state = After(whole);
        Assert.True(state.IsComplete);
        Assert.False(state.TryAdvance((byte)next[0]));
        Assert.True(state.IsComplete); // a refusal leaves the state as it was
    }

    [Fact]
    public void A_character_split_between_tokens_is_carried_over()
    {
        // "é" is C3 A9, "€" E2 82 AC, "😀" F0 9F 98 80: each split after every byte, as tokens of one byte or a few.
        foreach (string c in new[] { "é", "€", "😀" })
        {
            byte[] bytes = Encoding.UTF8.GetBytes(c);
            for (int split = 1; split < bytes.Length; split++)
            {
                JsonPrefix state = After("{\"k\":\"");
                Assert.True(state.TryAdvance(bytes.AsSpan(0, split)));
                // The rest of the character must come next: a quote or an ASCII letter there is refused…
                Assert.False(state.TryAdvance("\""u8));
                Assert.False(state.TryAdvance("a"u8));
                Assert.True(state.TryAdvance(bytes.AsSpan(split)));
                // …and once it is whole the string goes on or ends.
                Assert.True(state.TryAdvance("\"}"u8));
                Assert.True(state.IsComplete);
            }
        }
    }

    [Theory]
    [InlineData(new byte[] { 0xC0, 0x80 })]        // overlong NUL
    [InlineData(new byte[] { 0xE0, 0x9F, 0xBF })]  // overlong U+07FF
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]  // a surrogate, U+D800
    [InlineData(new byte[] { 0xF0, 0x8F, 0xBF })]  // overlong U+FFFF
    [InlineData(new byte[] { 0xF4, 0x90, 0x80 })]  // past U+10FFFF
    [InlineData(new byte[] { 0xF5 })]
    [InlineData(new byte[] { 0x80 })]              // a continuation byte without a lead
    [InlineData(new byte[] { 0xC3, 0x41 })]        // a lead byte without its continuation
    [InlineData(new byte[] { 0x1F })]              // a control character must be escaped
    public void Strings_hold_only_valid_UTF8_text(byte[] bytes)
    {
        JsonPrefix state = After("{\"k\":\"");
        Assert.False(state.TryAdvance(bytes));
        byte[] whole = [.. "{\"k\":\""u8, .. bytes, .. "\"}"u8];
        Assert.False(JsonDocuments.IsJsonModeText(whole));
    }

    [Theory]
    [InlineData("\\uDC00", 3)]         // a low surrogate alone: refused at its second digit
    [InlineData("\\uD800\"", 6)]       // a high one without its low one
    [InlineData("\\uD800\\u0041", 8)]  // followed by an escape that is not a low surrogate
    [InlineData("\\uD800\\uD800", 9)]
    [InlineData("\\uD800\\uDBFF", 9)]  // a second high one, at the top of their range: DB is not a low surrogate's DC..DF
    public void Surrogate_escapes_must_pair(string escapes, int refusedAt)
    {
        byte[] text = Encoding.UTF8.GetBytes("{\"k\":\"" + escapes + "\"}");
        Assert.Equal(6 + refusedAt, Refusal(text, out _));
        Assert.False(JsonDocuments.IsJsonModeText(text));
        Assert.True(JsonDocuments.IsJsonModeText("{\"k\":\"\\uD83D\\uDE00\\ud83d\\ude00\"}"u8.ToArray()));
    }

    [Fact]
    public void Nesting_stops_at_64_levels_as_System_Text_Json_does_by_default()
    {
        string deepest = "{\"a\":" + new string('[', JsonPrefix.MaxDepth - 1) + new string(']', JsonPrefix.MaxDepth - 1) + "}";
        Assert.True(After(deepest).IsComplete);
        JsonDocument.Parse(deepest).Dispose();
        JsonPrefix state = After("{\"a\":" + new string('[', JsonPrefix.MaxDepth - 1));
        Assert.Equal(JsonPrefix.MaxDepth, state.Depth);
        Assert.False(state.TryAdvance((byte)'['));
        Assert.False(state.TryAdvance((byte)'{'));
        // A value that opens nothing still goes in, so the deepest level is no dead end.
        Assert.True(state.TryAdvance((byte)'1'));
        string tooDeep = "{\"a\":" + new string('[', JsonPrefix.MaxDepth) + new string(']', JsonPrefix.MaxDepth) + "}";
        Assert.ThrowsAny<JsonException>(() => JsonDocument.Parse(tooDeep).Dispose());
    }

    [Fact]
    public void A_run_of_whitespace_is_capped()
    {
        foreach (string before in new[] { "{", "{\"a\"", "{\"a\":", "{\"a\":1", "{\"a\":[", "{\"a\":[1," })
        {
            JsonPrefix state = After(before);
            for (int i = 0; i < JsonPrefix.MaxNewlines; i++)
            {
                Assert.True(state.TryAdvance((byte)'\n'));
            }
            Assert.False(state.TryAdvance((byte)'\n'));
            for (int i = 0; i < JsonPrefix.MaxOtherWhitespace; i++)
            {
                Assert.True(state.TryAdvance(" \t\r"u8[i % 3]));
            }
            Assert.False(state.TryAdvance((byte)' '));
            Assert.Contains("whitespace", state.Expected(), StringComparison.Ordinal);
            Assert.True(JsonDocuments.CanComplete(state));
        }
        // A byte that is not whitespace starts the count again, and inside a string whitespace is text.
        JsonPrefix s = After("{\n\"a\"\n:\n\"" + new string(' ', 200) + "\"\n}");
        Assert.True(s.IsComplete);
    }

    [Theory]
    [InlineData("{\"a\":01")]
    [InlineData("{\"a\":-}")]
    [InlineData("{\"a\":1.}")]
    [InlineData("{\"a\":1e}")]
    [InlineData("{\"a\":1e+}")]  // an exponent's sign needs a digit after it
    [InlineData("{\"a\":1E-,")]
    [InlineData("{\"a\":.5")]
    [InlineData("{\"a\":+1")]
    [InlineData("{\"a\":1,}")]
    [InlineData("{\"a\":[1,]")]   // a trailing comma in an array, as in an object
    [InlineData("{\"a\":--1")]
    [InlineData("{\"a\" 1")]
    [InlineData("{,")]
    [InlineData("{\"a\":tru}")]
    [InlineData("{\"a\":True")]
    [InlineData("{\"a\":[1}")]
    [InlineData("{\"a\":{]")]
    [InlineData("{\"a\":\"\\x\"")]
    [InlineData("{\"a\":\"\\u12G4\"")]
    [InlineData("{\"a\":\"\\U0041\"")]  // the u of an escape is lower case only
    [InlineData("{'a':1}")]
    [InlineData("{a:1}")]
    [InlineData("{\"a\":NaN}")]
    public void What_JSON_refuses_is_refused(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        Assert.True(Refusal(bytes, out _) >= 0);
        Assert.False(JsonDocuments.IsJsonModeText(bytes));
    }

    [Theory]
    [InlineData("{\"a\":true,\"b\":\"", "{\"a\":1,\"b\":\"")]
    [InlineData("{\"a\":[],\"b\":", "{\"a\":{},\"b\":")]
    [InlineData("{\"k\":\"v\",", "{\"k\":\"\\u0041\",")]
    public void States_that_take_the_same_bytes_from_here_are_one_key(string one, string other)
    {
        JsonPrefix a = After(one), b = After(other);
        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(After("{\"a\":["), After("{\"a\":{"));
        Assert.NotEqual(After("{\"a\":\"x"), After("{\"a"));
    }

    /// <summary>
    /// States that take other bytes are other keys where the key is formed differently: at the deepest level, where
    /// every nesting bit counts (the mask of the bits below the depth cannot be formed there: a shift by 64 is a shift
    /// by 0), and inside an escape, whose progress says which bytes come next.
    /// </summary>
    [Fact]
    public void States_at_the_deepest_level_or_inside_an_escape_that_take_other_bytes_are_other_keys()
    {
        string deep = "{\"a\":" + new string('[', JsonPrefix.MaxDepth - 2);
        JsonPrefix inObject = After(deep + "{\"b\":true"), inArray = After(deep + "[true");
        Assert.Equal(JsonPrefix.MaxDepth, inObject.Depth);
        Assert.Equal(JsonPrefix.MaxDepth, inArray.Depth);
        Assert.NotEqual(inObject, inArray);
        Assert.True(inObject.TryAdvance((byte)'}') && !inArray.TryAdvance((byte)'}'));
        // Right after the backslash a short escape's letter may come; after \u only hex digits.
        JsonPrefix backslash = After("{\"a\":\"\\"), u = After("{\"a\":\"\\u");
        Assert.NotEqual(backslash, u);
        Assert.True(backslash.TryAdvance((byte)'n') && !u.TryAdvance((byte)'n'));
    }

    /// <summary>
    /// The run of whitespace between tokens is part of the key: one more byte of it leaves less room before its cap, so
    /// the mask cache, which finds masks by this key, must not give the longer run the shorter one's mask. A byte that
    /// is not whitespace ends the run, and then the run no longer tells states apart.
    /// </summary>
    [Fact]
    public void States_after_runs_of_whitespace_of_other_lengths_are_other_keys()
    {
        Assert.NotEqual(After("{ "), After("{  "));
        Assert.NotEqual(After("{\n"), After("{ "));
        Assert.Equal(After("{ \"a\""), After("{\"a\""));
        Assert.Equal(After("{ \"a\"").GetHashCode(), After("{\"a\"").GetHashCode());
    }
}
