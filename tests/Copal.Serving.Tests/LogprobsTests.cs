using System.Text;
using System.Text.Json;
using OpenAI.Chat;

namespace Copal.Serving.Tests;

/// <summary>
/// Log-probabilities over HTTP in OpenAI's two shapes: the legacy completions' tokens, token_logprobs, top_logprobs
/// and text_offset, and chat's content entries with bytes, as the official client reads them; streamed or not, the same.
/// Their values are the engine's, checked against the model in <see cref="EngineTests"/>.
/// </summary>
public sealed class LogprobsTests(ServerFixture server) : IClassFixture<ServerFixture>
{
    private const string Model = "stories260K";

    private async Task<string> PostAsync(object body)
    {
        (int status, string text) = await server.PostAsync("/v1/completions", body);
        Assert.True(status == 200, text);
        return text;
    }

    [Fact]
    public async Task A_completion_gives_each_tokens_logprob_alternatives_and_offset_streamed_or_not()
    {
        int[] prompt = server.Tokenizer.Encode("Once upon a time");
        var (text, ids) = Reference.Greedy(server.Model, server.Tokenizer, prompt, 12);
        JsonElement whole = JsonDocument.Parse(await PostAsync(new { model = Model, prompt = "Once upon a time", max_tokens = 12, temperature = 0, logprobs = 3 })).RootElement;
        JsonElement choice = whole.GetProperty("choices")[0];
        Assert.Equal(text, choice.GetProperty("text").GetString());
        JsonElement lp = choice.GetProperty("logprobs");
        string[] tokens = [.. lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)];
        double[] logprobs = [.. lp.GetProperty("token_logprobs").EnumerateArray().Select(t => t.GetDouble())];
        int[] offsets = [.. lp.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32())];
        JsonElement[] tops = [.. lp.GetProperty("top_logprobs").EnumerateArray()];
        Assert.Equal(ids.Select(id => Encoding.UTF8.GetString(server.Tokenizer.TokenBytes(id))), tokens);
        Assert.Equal(text, string.Concat(tokens)); // the tokens continue the prompt: the first keeps its space
        Assert.Equal(ids.Length, logprobs.Length);
        for (int i = 0; i < tokens.Length; i++)
        {
            Assert.Equal(string.Concat(tokens.Take(i)).Length, offsets[i]);
            Dictionary<string, double> top = tops[i].EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
            Assert.InRange(top.Count, 1, 3);
            // Greedy: the token is the likeliest, its logprob that of its entry.
            Assert.Equal(top.Values.Max(), logprobs[i]);
            Assert.Equal(logprobs[i], top[tokens[i]]);
            Assert.InRange(logprobs[i], double.MinValue, 0);
        }

        // Streamed: the chunks' logprobs, one after another, are the whole reply's.
        var streamed = new List<(string Token, double Logprob, int Offset)>();
        foreach (string line in (await PostAsync(new { model = Model, prompt = "Once upon a time", max_tokens = 12, temperature = 0, logprobs = 3, stream = true })).Split('\n'))
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal))
            {
                continue;
            }
            JsonElement c = JsonDocument.Parse(line["data: ".Length..]).RootElement.GetProperty("choices")[0];
            if (c.GetProperty("logprobs") is { ValueKind: JsonValueKind.Object } part)
            {
                string[] t = [.. part.GetProperty("tokens").EnumerateArray().Select(x => x.GetString()!)];
                double[] l = [.. part.GetProperty("token_logprobs").EnumerateArray().Select(x => x.GetDouble())];
                int[] o = [.. part.GetProperty("text_offset").EnumerateArray().Select(x => x.GetInt32())];
                streamed.AddRange(t.Select((x, k) => (x, l[k], o[k])));
            }
        }
        Assert.Equal(tokens, streamed.Select(s => s.Token));
        Assert.Equal(offsets, streamed.Select(s => s.Offset));
        for (int i = 0; i < tokens.Length; i++)
        {
            Assert.Equal(logprobs[i], streamed[i].Logprob, Copal.Testing.Tolerances.LogitsAbsolute);
        }
    }

    /// <summary>
    /// A stop text holds text back while it may be starting (" Lily" could begin "Lily!"): each token's text_offset is
    /// still where its text starts, not where the text handed out so far ends. A stop that matches ends the reply, and
    /// the tokens that made it keep the offsets they have in the text the model wrote, as vLLM gives them.
    /// </summary>
    [Theory]
    [InlineData("Lily!", false)] // held back from " Lily", released with "."
    [InlineData("ily. S", true)] // held back from " Lily", matched with " She"
    public async Task Text_held_back_for_a_stop_text_leaves_each_tokens_offset_where_its_text_starts(string stop, bool matches)
    {
        int[] prompt = server.Tokenizer.Encode("Once upon a time");
        var (text, ids) = Reference.Greedy(server.Model, server.Tokenizer, prompt, 12);
        Assert.Contains(" Lily. She", text, StringComparison.Ordinal);
        string[] tokenTexts = [.. ids.Select(id => Encoding.UTF8.GetString(server.Tokenizer.TokenBytes(id)))];
        int[] starts = [.. tokenTexts.Select((_, i) => string.Concat(tokenTexts.Take(i)).Length)];
        var body = new { model = Model, prompt = "Once upon a time", max_tokens = 12, temperature = 0, logprobs = 1, stop };
        JsonElement choice = JsonDocument.Parse(await PostAsync(body)).RootElement.GetProperty("choices")[0];
        Assert.Equal(matches ? text[..text.IndexOf(stop, StringComparison.Ordinal)] : text, choice.GetProperty("text").GetString());
        JsonElement lp = choice.GetProperty("logprobs");
        Assert.Equal(tokenTexts, lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!));
        Assert.Equal(starts, lp.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()));

        var streamed = new List<int>();
        foreach (string line in (await PostAsync(new { body.model, body.prompt, body.max_tokens, body.temperature, body.logprobs, body.stop, stream = true })).Split('\n'))
        {
            if (line.StartsWith("data: {", StringComparison.Ordinal)
                && JsonDocument.Parse(line["data: ".Length..]).RootElement.GetProperty("choices")[0].GetProperty("logprobs") is { ValueKind: JsonValueKind.Object } part)
            {
                streamed.AddRange(part.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()));
            }
        }
        Assert.Equal(starts, streamed);
    }

    [Fact]
    public async Task A_chat_reply_gives_its_tokens_with_bytes_and_alternatives_to_the_openai_client()
    {
        ChatClient chat = server.Client().GetChatClient(Model);
        ChatMessage[] messages = [new UserChatMessage("Once upon a time")];
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 10, IncludeLogProbabilities = true, TopLogProbabilityCount = 2 };
        ChatCompletion completion = (await chat.CompleteChatAsync(messages, options)).Value;
        IReadOnlyList<ChatTokenLogProbabilityDetails> tokens = completion.ContentTokenLogProbabilities;
        Assert.Equal(completion.Usage.OutputTokenCount, tokens.Count);
        string reply = completion.Content[0].Text;
        // A reply's first word loses its space in the text (it does not continue a prompt); its token keeps it.
        string joined = Encoding.UTF8.GetString([.. tokens.SelectMany(t => t.Utf8Bytes!.Value.ToArray())]);
        Assert.True(joined == reply || joined == " " + reply, $"tokens '{joined}', reply '{reply}'");
        foreach (ChatTokenLogProbabilityDetails t in tokens)
        {
            Assert.Equal(Encoding.UTF8.GetString(t.Utf8Bytes!.Value.ToArray()), t.Token);
            Assert.Equal(2, t.TopLogProbabilities.Count);
            Assert.Equal(t.TopLogProbabilities[0].Token, t.Token);
            Assert.Equal(t.TopLogProbabilities[0].LogProbability, t.LogProbability);
            Assert.True(t.TopLogProbabilities[1].LogProbability <= t.LogProbability);
        }

        var streamed = new List<ChatTokenLogProbabilityDetails>();
        await foreach (StreamingChatCompletionUpdate u in chat.CompleteChatStreamingAsync(messages, options))
        {
            streamed.AddRange(u.ContentTokenLogProbabilities);
        }
        Assert.Equal(tokens.Select(t => t.Token), streamed.Select(t => t.Token));
        for (int i = 0; i < tokens.Count; i++)
        {
            Assert.Equal(tokens[i].LogProbability, streamed[i].LogProbability, Copal.Testing.Tolerances.LogitsAbsolute);
        }

        // Without logprobs the reply has none.
        ChatCompletion plain = (await chat.CompleteChatAsync(messages, new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 3 })).Value;
        Assert.Empty(plain.ContentTokenLogProbabilities);
    }

    /// <summary>
    /// What an evaluation harness sends to score a text (lm-evaluation-harness's loglikelihood over a completions API):
    /// the text as token ids, echo, logprobs 1, max_tokens 1. The reply holds the prompt's tokens, the first without a
    /// log-probability, each other with its log-probability given the tokens before it (the forward pass's, as the
    /// engine's tests check) and the likeliest token beside it, then the one generated token.
    /// </summary>
    [Fact]
    public async Task Echo_with_logprobs_scores_the_prompt_as_an_evaluation_harness_asks()
    {
        int[] prompt = server.Tokenizer.Encode("Once upon a time, there was a little girl");
        var (_, ids) = Reference.Greedy(server.Model, server.Tokenizer, prompt, 1);
        JsonElement choice = JsonDocument.Parse(await PostAsync(new { model = Model, prompt = new[] { prompt }, max_tokens = 1, logprobs = 1, echo = true, temperature = 0 }))
            .RootElement.GetProperty("choices")[0];
        JsonElement lp = choice.GetProperty("logprobs");
        string[] tokens = [.. lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)];
        JsonElement[] logprobs = [.. lp.GetProperty("token_logprobs").EnumerateArray()];
        JsonElement[] tops = [.. lp.GetProperty("top_logprobs").EnumerateArray()];
        int[] offsets = [.. lp.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32())];
        Assert.Equal(prompt.Concat(ids).Select(id => Encoding.UTF8.GetString(server.Tokenizer.TokenBytes(id))), tokens);
        Assert.Equal(JsonValueKind.Null, logprobs[0].ValueKind);
        Assert.Equal(JsonValueKind.Null, tops[0].ValueKind);
        Assert.Equal(0, offsets[0]);
        using (var state = server.Model.CreateState(prompt.Length, prompt.Length, allRowLogits: true))
        {
            server.Model.Forward(state, prompt, 0, Copal.Model.Inference.LogitsMode.All);
            float[] logits = server.Model.ReadLogits(state, prompt.Length);
            int vocab = server.Model.Config.VocabSize;
            for (int i = 1; i < prompt.Length; i++)
            {
                float[] row = logits[((i - 1) * vocab)..(i * vocab)];
                double max = row.Max();
                double logSum = max + Math.Log(row.Sum(l => Math.Exp(l - max)));
                Assert.Equal(row[prompt[i]] - logSum, logprobs[i].GetDouble(), Copal.Testing.Tolerances.LogitsAbsolute);
                // The harness's "is greedy": the token's logprob is the best of its top_logprobs exactly when it is the argmax.
                double best = tops[i].EnumerateObject().Max(p => p.Value.GetDouble());
                Assert.Equal(row[prompt[i]] == row.Max(), logprobs[i].GetDouble() == best);
            }
        }
        // The text is the prompt's, then the generated token's; each token's text starts at its offset (the first
        // word's space, which the decoded prompt leaves out, aside; BOS takes no room).
        string promptText = server.Tokenizer.Decode(prompt);
        string echoed = choice.GetProperty("text").GetString()!;
        Assert.Equal(promptText + Reference.Greedy(server.Model, server.Tokenizer, prompt, 1).Text, echoed);
        Assert.Equal(promptText.Length, offsets[^1]);
        for (int i = 1; i < tokens.Length; i++)
        {
            Assert.True(echoed[offsets[i]..].StartsWith(offsets[i] == 0 ? tokens[i].TrimStart(' ') : tokens[i], StringComparison.Ordinal),
                $"token {i} '{tokens[i]}' at {offsets[i]}: '{echoed[offsets[i]..]}'");
        }

        // Streamed, the prompt goes first with its tokens, then the reply: the same text, tokens and offsets.
        var streamedText = new StringBuilder();
        var streamedTokens = new List<string>();
        var streamedOffsets = new List<int>();
        foreach (string line in (await PostAsync(new { model = Model, prompt = new[] { prompt }, max_tokens = 1, logprobs = 1, echo = true, temperature = 0, stream = true })).Split('\n'))
        {
            if (line.StartsWith("data: {", StringComparison.Ordinal))
            {
                JsonElement c = JsonDocument.Parse(line["data: ".Length..]).RootElement.GetProperty("choices")[0];
                streamedText.Append(c.GetProperty("text").GetString());
                if (c.GetProperty("logprobs") is { ValueKind: JsonValueKind.Object } part)
                {
                    streamedTokens.AddRange(part.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!));
                    streamedOffsets.AddRange(part.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()));
                }
            }
        }
        Assert.Equal(echoed, streamedText.ToString());
        Assert.Equal(tokens, streamedTokens);
        Assert.Equal(offsets, streamedOffsets);

        // Echo alone gives the prompt's text before the reply's, and max_tokens 0 just the prompt scored.
        JsonElement plain = JsonDocument.Parse(await PostAsync(new { model = Model, prompt = "Once upon a time", max_tokens = 0, echo = true })).RootElement.GetProperty("choices")[0];
        Assert.Equal("Once upon a time", plain.GetProperty("text").GetString());
        Assert.Equal(JsonValueKind.Null, plain.GetProperty("logprobs").ValueKind);
        JsonElement scored = JsonDocument.Parse(await PostAsync(new { model = Model, prompt = "Once upon a time", max_tokens = 0, echo = true, logprobs = 0 })).RootElement;
        JsonElement scoredLogprobs = scored.GetProperty("choices")[0].GetProperty("logprobs");
        Assert.Equal(server.Tokenizer.Encode("Once upon a time").Length, scoredLogprobs.GetProperty("tokens").GetArrayLength());
        // logprobs 0: each top_logprobs holds the token itself alone (OpenAI's "up to logprobs + 1").
        JsonProperty alone = Assert.Single(scoredLogprobs.GetProperty("top_logprobs")[1].EnumerateObject());
        Assert.Equal(scoredLogprobs.GetProperty("tokens")[1].GetString(), alone.Name);
        Assert.Equal(scoredLogprobs.GetProperty("token_logprobs")[1].GetDouble(), alone.Value.GetDouble());
        Assert.Equal(0, scored.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    /// <summary>
    /// A prompt that writes special tokens as text ("&lt;/s&gt;", "&lt;s&gt;") is tokenized to those tokens, and echo gives
    /// the text as written: each prompt token's text_offset is where it stands in that text (a written special token
    /// takes its own room, the BOS the tokenizer adds none), so the offsets after it are not short by its length.
    /// </summary>
    [Theory]
    [InlineData("Once</s> upon<s> a time")]
    [InlineData("</s>Once upon a time")]
    [InlineData("Once upon a</s>")]
    public async Task Echoed_offsets_place_the_tokens_of_a_prompt_that_writes_special_tokens(string prompt)
    {
        JsonElement choice = JsonDocument.Parse(await PostAsync(new { model = Model, prompt, max_tokens = 0, echo = true, logprobs = 0 }))
            .RootElement.GetProperty("choices")[0];
        string echoed = choice.GetProperty("text").GetString()!;
        Assert.Equal(prompt, echoed);
        JsonElement lp = choice.GetProperty("logprobs");
        string[] tokens = [.. lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!)];
        int[] offsets = [.. lp.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32())];
        Assert.Equal(server.Tokenizer.Encode(prompt).Length, tokens.Length);
        Assert.Equal("<s>", tokens[0]);
        Assert.Equal(0, offsets[0]);
        for (int i = 1; i < tokens.Length; i++)
        {
            // A SentencePiece word's space is the normalizer's where its piece of text starts (at 0, after a special token).
            Assert.True(echoed[offsets[i]..].StartsWith(tokens[i], StringComparison.Ordinal)
                || echoed[offsets[i]..].StartsWith(tokens[i].TrimStart(' '), StringComparison.Ordinal),
                $"token {i} '{tokens[i]}' at {offsets[i]}: '{echoed[offsets[i]..]}'");
            Assert.True(offsets[i] >= offsets[i - 1], $"offsets go back at token {i}: {string.Join(", ", offsets)}");
        }
    }

    /// <summary>
    /// A prompt given as ids is echoed as their decode, which writes no special token: its BOS takes no room even where
    /// the text that follows spells "&lt;s&gt;" with plain tokens.
    /// </summary>
    [Fact]
    public async Task Echoed_offsets_of_an_id_prompt_give_its_special_tokens_no_room()
    {
        // "<s>" in byte-fallback tokens, after BOS.
        int[] prompt = [server.Tokenizer.BosId!.Value, .. "<s>".Select(c => server.Tokenizer.TokenToId($"<0x{(int)c:X2}>")!.Value)];
        string text = server.Tokenizer.Decode(prompt);
        Assert.StartsWith("<s>", text, StringComparison.Ordinal);
        JsonElement choice = JsonDocument.Parse(await PostAsync(new { model = Model, prompt = new[] { prompt }, max_tokens = 0, echo = true, logprobs = 0 }))
            .RootElement.GetProperty("choices")[0];
        Assert.Equal(text, choice.GetProperty("text").GetString());
        int[] offsets = [.. choice.GetProperty("logprobs").GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32())];
        Assert.Equal(0, offsets[0]);
        Assert.Equal(0, offsets[1]);
    }

    /// <summary>
    /// The legacy top_logprobs is an object keyed by token text, so two tokens that read alike (byte tokens of parts
    /// of a character, both U+FFFD) share a key: the likelier one's log-probability is kept, not the one written last.
    /// </summary>
    [Fact]
    public void Legacy_alternatives_that_read_alike_keep_the_likelier()
    {
        var logprobs = new Copal.Cli.Serving.OpenAiLogprobs(server.Tokenizer, chat: false);
        // stories260K's byte tokens: <0xE2> is 229, <0x82> is 133; each alone is part of a character.
        Assert.Equal("\uFFFD", Encoding.UTF8.GetString(server.Tokenizer.TokenBytes(229)));
        Assert.Equal("\uFFFD", Encoding.UTF8.GetString(server.Tokenizer.TokenBytes(133)));
        var chosen = new Copal.Model.Serving.TokenLogprob(133, -2f);
        logprobs.Add(new Copal.Model.Serving.CompletionChunk("", [133]) { Logprobs = new Copal.Model.Serving.ChosenLogprobs(chosen, [new(229, -1f), chosen]) }, 0);
        System.Text.Json.Nodes.JsonObject top = logprobs.Take()["top_logprobs"]![0]!.AsObject();
        Assert.Equal(-1f, top["\uFFFD"]!.GetValue<float>());
        Assert.Single(top);
    }
}
