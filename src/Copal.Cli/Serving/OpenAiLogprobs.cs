using System.Text.Json.Nodes;
using Copal.Model.Serving;
using Copal.Model.Tokenization;

namespace Copal.Cli.Serving;

/// <summary>
/// A reply's log-probabilities in OpenAI's two shapes, gathered token by token and handed out with the text they came
/// with: chat's <c>{"content": [{token, logprob, bytes, top_logprobs}], "refusal": null}</c>, and the legacy
/// completions' <c>{tokens, token_logprobs, top_logprobs, text_offset}</c>. A token whose text is held back (part of a
/// character, a possible stop text) waits for the next piece of text that goes out, so each token is sent once. With
/// echo, the prompt's tokens come first.
/// </summary>
internal sealed class OpenAiLogprobs(CopalTokenizer tokenizer, bool chat)
{
    /// <summary>
    /// What stands for −∞, as vLLM sends it: JSON has no infinity. Non-finite logits are refused before, so only a
    /// log-probability past float's range (logits ~1e38 apart) could come to this.
    /// </summary>
    private const float NegativeInfinity = -9999f;

    // Each token with its log-probabilities (none for a prompt's first token) and where its text starts.
    private readonly List<(int TokenId, ChosenLogprobs? Logprobs, int TextOffset)> _pending = [];

    /// <summary>
    /// Keeps the log-probabilities of <paramref name="chunk"/>'s token, if it has one; <paramref name="textOffset"/>
    /// is where the token's text starts in the reply's (the legacy text_offset), text held back before it counted.
    /// </summary>
    public void Add(CompletionChunk chunk, int textOffset)
    {
        if (chunk.Logprobs is ChosenLogprobs lp)
        {
            _pending.Add((lp.Chosen.TokenId, lp, textOffset));
        }
    }

    /// <summary>
    /// Keeps the prompt's tokens (echo), ahead of the reply's: the first without a log-probability, as OpenAI sends it
    /// (null), each where its text starts in <paramref name="echoed"/>, the prompt's text as the reply shows it: decoded
    /// token by token, a SentencePiece prompt's first space and the BOS the tokenizer adds taking no room. A special token
    /// the prompt writes as text ("&lt;/s&gt;") takes its own length, and the text after it was normalized apart (its
    /// SentencePiece space, which a decode strips, is that piece's own), so it is decoded from there afresh.
    /// </summary>
    public void AddPrompt(PromptLogprobs prompt, string echoed)
    {
        TokenDecoderStream decoded = tokenizer.CreateDecoderStream(skipSpecialTokens: true);
        // A prompt given as ids is echoed as their decode, which writes no special token (text that spells one is text).
        bool writesSpecialTokens = echoed != tokenizer.Decode([.. prompt.TokenIds], skipSpecialTokens: true);
        int offset = 0;
        for (int i = 0; i < prompt.TokenIds.Count; i++)
        {
            int id = prompt.TokenIds[i];
            _pending.Add((id, i == 0 ? null : prompt.Following[i - 1], offset));
            if (writesSpecialTokens && tokenizer.IsSpecial(id) && tokenizer.IdToToken(id) is { } written
                && echoed.AsSpan(offset).StartsWith(written, StringComparison.Ordinal))
            {
                offset += written.Length;
                decoded = tokenizer.CreateDecoderStream(skipSpecialTokens: true);
                continue;
            }
            offset += decoded.Push(id).Length;
        }
    }

    /// <summary>Whether tokens were kept since the last <see cref="Take"/>.</summary>
    public bool Any => _pending.Count > 0;

    /// <summary>The object for the tokens kept since the last call, which it hands out.</summary>
    public JsonObject Take()
    {
        JsonObject result = chat ? Chat() : Legacy();
        _pending.Clear();
        return result;
    }

    private JsonObject Chat()
    {
        var content = new JsonArray();
        foreach ((_, ChosenLogprobs? chosen, _) in _pending)
        {
            ChosenLogprobs lp = chosen!; // a chat has no prompt tokens here
            JsonObject entry = Entry(lp.Chosen);
            entry["top_logprobs"] = new JsonArray([.. lp.Top.Select(t => (JsonNode)Entry(t))]);
            content.Add(entry);
        }
        return new JsonObject { ["content"] = content, ["refusal"] = null };
    }

    private JsonObject Entry(TokenLogprob t)
    {
        byte[] bytes = tokenizer.TokenBytes(t.TokenId);
        return new JsonObject
        {
            ["token"] = System.Text.Encoding.UTF8.GetString(bytes),
            ["logprob"] = Finite(t.Logprob),
            ["bytes"] = new JsonArray([.. bytes.Select(b => (JsonNode)b)]),
        };
    }

    private JsonObject Legacy()
    {
        var tokens = new JsonArray();
        var logprobs = new JsonArray();
        var tops = new JsonArray();
        var offsets = new JsonArray();
        foreach ((int id, ChosenLogprobs? lp, int offset) in _pending)
        {
            tokens.Add(Text(id));
            offsets.Add(offset);
            if (lp is null)
            {
                logprobs.Add(null);
                tops.Add(null);
                continue;
            }
            logprobs.Add(Finite(lp.Chosen.Logprob));
            var top = new JsonObject();
            // The likeliest, then the chosen token if it is not among them (OpenAI's "up to logprobs + 1"). Two tokens
            // can read the same (byte tokens of partial characters): the likelier one is kept.
            foreach (TokenLogprob t in lp.Top.Append(lp.Chosen))
            {
                top.TryAdd(Text(t.TokenId), Finite(t.Logprob));
            }
            tops.Add(top);
        }
        return new JsonObject { ["tokens"] = tokens, ["token_logprobs"] = logprobs, ["top_logprobs"] = tops, ["text_offset"] = offsets };
    }

    private string Text(int id) => System.Text.Encoding.UTF8.GetString(tokenizer.TokenBytes(id)); // U+FFFD for part of a character

    // Written as floats (their shortest round-trip text): doubles would add digits the values never had.
    private static float Finite(float logprob) => float.IsNegativeInfinity(logprob) ? NegativeInfinity : logprob;
}
