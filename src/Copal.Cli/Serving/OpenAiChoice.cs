using System.Text.Json.Nodes;
using Copal.Model.Chat;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.Serving;

namespace Copal.Cli.Serving;

/// <summary>
/// One choice of an answer as it is gathered: the engine request it runs, its place in the answer, and its text,
/// log-probabilities and reasoning split so far, which it hands out as a whole choice or as a stream's pieces. Each
/// choice has its own: its chunks arrive interleaved with the other choices'.
/// </summary>
internal sealed class OpenAiChoice
{
    private readonly bool _chat;
    // Completions' echo: the prompt's text as given (token ids decoded), which the reply's text starts with; null without echo.
    private readonly string? _echo;
    private readonly ThinkTagSplitter? _splitter;
    private readonly ToolCallReply? _toolCalls;
    private readonly OpenAiLogprobs? _logprobs;
    // A whole answer's text, the echo first.
    private readonly System.Text.StringBuilder _text = new();
    // Characters of the echo, before the reply's text: where the engine's text offsets start (legacy text_offset).
    private readonly int _echoLength;
    private bool _opened;

    /// <param name="index">The choice's index in the answer.</param>
    /// <param name="countsPrompt">Whether its usage counts its prompt's tokens (the first choice of each prompt's does).</param>
    /// <param name="run">What the engine runs: the prompt encoded, with this choice's seed.</param>
    /// <param name="chat">A chat reply (a message, deltas) or a completion (text).</param>
    /// <param name="echo">Completions' echo: the prompt's text; null for none.</param>
    /// <param name="splitter">With --reasoning-parser, a chat reply's splitter of its own.</param>
    /// <param name="logprobs">Where its log-probabilities gather, when they were asked for.</param>
    /// <param name="tools">A chat request's tools, whose calls the reply is read for; null for none.</param>
    public OpenAiChoice(int index, bool countsPrompt, CompletionRequest run, bool chat, string? echo, ThinkTagSplitter? splitter, OpenAiLogprobs? logprobs,
        OfferedTools? tools = null)
    {
        _toolCalls = tools is null ? null : new ToolCallReply(tools);
        Index = index;
        CountsPrompt = countsPrompt;
        Run = run;
        _chat = chat;
        _echo = echo;
        _splitter = splitter;
        _logprobs = logprobs;
        _text.Append(echo);
        _echoLength = echo?.Length ?? 0;
    }

    /// <summary>The choice's index in the answer: prompt index × n + the choice's number among its prompt's.</summary>
    public int Index { get; }

    /// <summary>Whether its usage counts its prompt's tokens: a prompt is counted once, however many choices it has, as vLLM counts it.</summary>
    public bool CountsPrompt { get; }

    /// <summary>The request the engine runs for this choice.</summary>
    public CompletionRequest Run { get; }

    /// <summary>The last chunk taken: with the finish reason and the usage once the choice is done.</summary>
    public CompletionChunk? Last { get; private set; }

    /// <summary>Takes a chunk of a whole answer (<see cref="Whole"/> gives it once the choice is done).</summary>
    public void Gather(CompletionChunk chunk)
    {
        AddPrompt(chunk);
        Add(chunk);
        _text.Append(chunk.Text);
    }

    /// <summary>The whole choice, once every chunk was gathered.</summary>
    public JsonObject Whole() => _chat
        ? new JsonObject { ["index"] = Index, ["message"] = Message(_text.ToString(), _splitter, _toolCalls), ["logprobs"] = _logprobs?.Take(), ["finish_reason"] = Finish(Last!, _toolCalls) }
        : new JsonObject { ["index"] = Index, ["text"] = _text.ToString(), ["logprobs"] = _logprobs?.Take(), ["finish_reason"] = Finish(Last!) };

    /// <summary>
    /// A stream's pieces for a chunk: first, at the choice's first chunk, a chat's role or completions' echoed prompt
    /// (with the prompt's tokens when they were scored); then the chunk's text, if any, with the tokens since the last
    /// text sent (held-back tokens included); the finish reason on the last piece of the last chunk.
    /// </summary>
    public List<JsonObject> Stream(CompletionChunk chunk)
    {
        var pieces = new List<JsonObject>();
        if (!_opened)
        {
            _opened = true;
            if (_chat)
            {
                pieces.Add(new JsonObject { ["index"] = Index, ["delta"] = new JsonObject { ["role"] = "assistant", ["content"] = "" }, ["logprobs"] = null, ["finish_reason"] = null });
            }
            AddPrompt(chunk);
            if (_echo is not null)
            {
                pieces.Add(new JsonObject { ["index"] = Index, ["text"] = _echo, ["logprobs"] = _logprobs?.Take(), ["finish_reason"] = null });
            }
        }
        Add(chunk);
        List<JsonObject> text = _chat ? ChatDeltas(chunk, _splitter, Index, _toolCalls) : chunk.Text.Length > 0 || chunk.FinishReason is not null
            ? [new JsonObject { ["index"] = Index, ["text"] = chunk.Text, ["logprobs"] = null, ["finish_reason"] = Finish(chunk) }]
            : [];
        if (_logprobs is { Any: true } && text.Count > 0)
        {
            text[^1]["logprobs"] = _logprobs.Take();
        }
        pieces.AddRange(text);
        return pieces;
    }

    // The prompt's tokens (echo with logprobs) come on the choice's first chunk, ahead of the reply's.
    private void AddPrompt(CompletionChunk chunk)
    {
        if (chunk.PromptLogprobs is PromptLogprobs prompt)
        {
            _logprobs!.AddPrompt(prompt, _echo ?? "");
        }
    }

    private void Add(CompletionChunk chunk)
    {
        _logprobs?.Add(chunk, _echoLength + chunk.TextOffset);
        Last = chunk;
    }

    /// <summary>
    /// A whole chat reply's message: the text as content, or with <paramref name="splitter"/> the reasoning apart in
    /// reasoning_content (null when the reply had none), as vLLM's reasoning parsers answer; an empty answer (a reply
    /// that is all reasoning, the budget spent inside the block) is null content, as theirs is. With tools, the calls
    /// the answer makes come apart in tool_calls, and the content is the text before them (null when there is none).
    /// </summary>
    private static JsonObject Message(string text, ThinkTagSplitter? splitter, ToolCallReply? toolCalls)
    {
        if (splitter is null && toolCalls is null)
        {
            return new JsonObject { ["role"] = "assistant", ["content"] = text };
        }
        string reasoning = "", content = text;
        if (splitter is not null)
        {
            ReplyPieces body = splitter.Push(text);
            ReplyPieces tail = splitter.Flush();
            (reasoning, content) = (body.Reasoning + tail.Reasoning, body.Content + tail.Content);
        }
        JsonArray? calls = null;
        if (toolCalls is not null)
        {
            content = toolCalls.Push(content) + toolCalls.Finish(out calls);
        }
        var message = new JsonObject { ["role"] = "assistant", ["content"] = content.Length == 0 ? null : content };
        if (toolCalls is not null)
        {
            message["tool_calls"] = calls ?? [];
        }
        if (splitter is not null)
        {
            message["reasoning_content"] = reasoning.Length > 0 ? reasoning : null;
        }
        return message;
    }

    /// <summary>
    /// The stream's choices for one chunk of choice <paramref name="index"/>: its text as a content delta, or with
    /// <paramref name="splitter"/> a reasoning_content delta then a content delta, each only when it has text; the
    /// finish reason rides on the last (alone, with an empty delta, when no text is left).
    /// </summary>
    internal static List<JsonObject> ChatDeltas(CompletionChunk c, ThinkTagSplitter? splitter, int index = 0, ToolCallReply? toolCalls = null)
    {
        ReplyPieces pieces = splitter is null ? new ReplyPieces("", c.Text) : splitter.Push(c.Text);
        if (splitter is not null && c.FinishReason is not null)
        {
            ReplyPieces tail = splitter.Flush();
            pieces = new ReplyPieces(pieces.Reasoning + tail.Reasoning, pieces.Content + tail.Content);
        }
        JsonArray? calls = null;
        if (toolCalls is not null)
        {
            string content = toolCalls.Push(pieces.Content);
            if (c.FinishReason is not null)
            {
                content += toolCalls.Finish(out calls, indexed: true);
            }
            pieces = pieces with { Content = content };
        }
        var deltas = new List<JsonObject>();
        if (pieces.Reasoning.Length > 0)
        {
            deltas.Add(new JsonObject { ["reasoning_content"] = pieces.Reasoning });
        }
        if (pieces.Content.Length > 0)
        {
            deltas.Add(new JsonObject { ["content"] = pieces.Content });
        }
        if (calls is not null)
        {
            // Each call whole in one delta, its index among the calls first, as OpenAI's stream gives a call's start.
            deltas.Add(new JsonObject { ["tool_calls"] = calls });
        }
        if (c.FinishReason is not null && deltas.Count == 0)
        {
            deltas.Add([]);
        }
        return deltas.Select((delta, i) => new JsonObject
        {
            ["index"] = index,
            ["delta"] = delta,
            ["logprobs"] = null,
            ["finish_reason"] = i == deltas.Count - 1 ? Finish(c, toolCalls) : null,
        }).ToList();
    }

    // "tool_calls" once the reply made calls, as OpenAI's answer says it.
    private static string? Finish(CompletionChunk c, ToolCallReply? toolCalls = null) => c.FinishReason switch
    {
        _ when c.FinishReason is not null && toolCalls is { Called: true } => "tool_calls",
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => null,
    };
}
