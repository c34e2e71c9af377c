using System.Runtime.CompilerServices;
using System.Text.Json;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.Serving;
using Microsoft.Extensions.AI;

namespace Copal.Model.Chat;

/// <summary>
/// <see cref="IChatClient"/> over an <see cref="InferenceEngine"/>, in process, no server: the conversation is
/// rendered by an <see cref="IChatFormatter"/> and completed by the engine (batched with other callers when its
/// <see cref="EngineOptions.Parallel"/> is above 1).
/// ChatOptions map as OpenAI's fields do: Temperature (default 0, greedy), TopP, TopK, FrequencyPenalty,
/// PresencePenalty, MaxOutputTokens (default 256), StopSequences, Seed, and AdditionalProperties "repetition_penalty",
/// "min_p" and "logit_bias" as vLLM's; Instructions become a leading system message. Tools (function declarations)
/// are shown to the model by its chat template and the calls of its reply come back as <see cref="FunctionCallContent"/>,
/// as copal serve's tool calling. What the model cannot take is refused, never ignored, by the rules of copal serve's
/// chat endpoint: non-text content, a forced tool call, a ModelId other than the engine's, an AdditionalProperties
/// entry set to change the reply through a field of another server's that copal does not implement (see <see cref="ToRequest"/>).
/// </summary>
public sealed partial class CopalChatClient : IChatClient
{
    private readonly InferenceEngine _engine;
    private readonly IChatFormatter _formatter;
    private readonly bool _splitReasoning;
    private readonly ToolCallFormat _toolFormat;
    private readonly string _toolFormatReason;

    /// <summary>
    /// A client over <paramref name="engine"/>, which stays the caller's (disposing the client leaves it running).
    /// Without <paramref name="formatter"/>: the model's chat template when its folder has one, else
    /// <see cref="PlainChatFormatter"/>. With <paramref name="splitReasoning"/>, a reply's <c>&lt;think&gt;</c> block
    /// comes apart as <see cref="TextReasoningContent"/> (<see cref="ThinkTagSplitter"/>, as <c>copal serve
    /// --reasoning-parser</c>), or is left out when <see cref="ReasoningOptions.Output"/> is
    /// <see cref="ReasoningOutput.None"/>. Tool calls are read in <paramref name="toolCallFormat"/>, by default the
    /// one the chat template shows the model (<see cref="ToolCallFormats.Detect"/>; none without a template).
    /// </summary>
    /// <exception cref="ObjectDisposedException"><paramref name="engine"/> was disposed.</exception>
    public CopalChatClient(InferenceEngine engine, IChatFormatter? formatter = null, bool splitReasoning = false, ToolCallFormat? toolCallFormat = null)
    {
        _splitReasoning = splitReasoning;
        _engine = engine ?? throw new ArgumentNullException(nameof(engine));
        // Now, not at every request the client would take and fail.
        ObjectDisposedException.ThrowIf(engine.IsDisposed, engine);
        // By default the model's own chat template, when its folder has one (else "role: text" paragraphs).
        _formatter = formatter ?? (Directory.Exists(engine.Model.Source) ? TemplateChatFormatter.ForModel(engine.Model.Source) : PlainChatFormatter.Instance);
        (_toolFormat, _toolFormatReason) = toolCallFormat is ToolCallFormat given
            ? (given, given == ToolCallFormat.None ? "the client was given ToolCallFormat.None" : "")
            : ToolCallFormats.Detect((_formatter as TemplateChatFormatter)?.Template);
        Metadata = new ChatClientMetadata("copal", null, engine.ModelId);
    }

    /// <summary>Provider "copal" and the engine's <see cref="InferenceEngine.ModelId"/>.</summary>
    public ChatClientMetadata Metadata { get; }

    /// <summary>
    /// The assistant's whole reply to <paramref name="messages"/>, with finish reason and token usage.
    /// Options are mapped and refused as <see cref="ToRequest"/> says.
    /// </summary>
    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        CompletionRequest request = Prepare(messages, options, out OfferedTools? tools);
        CompletionResult result;
        try
        {
            result = await _engine.CompleteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (CompletionRequestException e) when (e.Parameter == "prompt")
        {
            throw FromMessages(e);
        }
        ThinkTagSplitter? splitter = Splitter(request);
        List<AIContent> contents = splitter is null ? [new TextContent(result.Text)] : Contents(splitter.Push(result.Text), options);
        if (splitter is not null)
        {
            contents.AddRange(Contents(splitter.Flush(), options));
        }
        bool called = tools is not null && ReadCalls(contents, tools.Splitter(), final: true, tools.Parallel);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, contents))
        {
            ModelId = _engine.ModelId,
            ResponseId = NewId(),
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = called ? ChatFinishReason.ToolCalls : ToFinish(result.FinishReason),
            Usage = ToUsage(result.Usage),
        };
    }

    /// <summary>
    /// The reply as it is generated: one update per piece of text; the last carries the finish reason and a
    /// <see cref="UsageContent"/>. Cancelling, or leaving the enumeration early, ends the generation at the next decode step.
    /// </summary>
    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        CompletionRequest request = Prepare(messages, options, out OfferedTools? tools);
        string id = NewId();
        DateTimeOffset created = DateTimeOffset.UtcNow;
        ThinkTagSplitter? splitter = Splitter(request);
        ToolCallSplitter? calls = tools?.Splitter();
        await foreach (CompletionChunk chunk in FromMessages(_engine.StreamAsync(request, cancellationToken)).ConfigureAwait(false))
        {
            var contents = new List<AIContent>();
            if (splitter is null)
            {
                if (chunk.Text.Length > 0)
                {
                    contents.Add(new TextContent(chunk.Text));
                }
            }
            else
            {
                contents.AddRange(Contents(splitter.Push(chunk.Text), options));
                if (chunk.FinishReason is not null)
                {
                    contents.AddRange(Contents(splitter.Flush(), options));
                }
            }
            bool called = calls is not null && ReadCalls(contents, calls, final: chunk.FinishReason is not null, tools!.Parallel);
            if (chunk.Usage is CompletionUsage usage)
            {
                contents.Add(new UsageContent(ToUsage(usage)));
            }
            if (contents.Count == 0 && chunk.FinishReason is null)
            {
                continue;
            }
            yield return new ChatResponseUpdate(ChatRole.Assistant, contents)
            {
                ResponseId = id,
                MessageId = id,
                CreatedAt = created,
                ModelId = _engine.ModelId,
                FinishReason = called ? ChatFinishReason.ToolCalls : chunk.FinishReason is FinishReason f ? ToFinish(f) : null,
            };
        }
    }

    private ThinkTagSplitter? Splitter(CompletionRequest request) => _splitReasoning ? ThinkTagSplitter.ForReplyTo(request) : null;

    /// <summary>The pieces as contents: the reasoning (unless the options ask for none of it), then the answer; only those with text.</summary>
    private static List<AIContent> Contents(ReplyPieces pieces, ChatOptions? options)
    {
        var contents = new List<AIContent>();
        if (pieces.Reasoning.Length > 0 && options?.Reasoning?.Output != ReasoningOutput.None)
        {
            contents.Add(new TextReasoningContent(pieces.Reasoning));
        }
        if (pieces.Content.Length > 0)
        {
            contents.Add(new TextContent(pieces.Content));
        }
        return contents;
    }

    /// <summary>
    /// The <see cref="ChatClientMetadata"/>, this client, its <see cref="InferenceEngine"/> or its tokenizer, whichever is of
    /// <paramref name="serviceType"/>; null for anything else or for any <paramref name="serviceKey"/>.
    /// </summary>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
        {
            return null;
        }
        if (serviceType == typeof(ChatClientMetadata))
        {
            return Metadata;
        }
        if (serviceType.IsInstanceOfType(this))
        {
            return this;
        }
        if (serviceType.IsInstanceOfType(_engine))
        {
            return _engine;
        }
        return serviceType.IsInstanceOfType(_engine.Tokenizer) ? _engine.Tokenizer : null;
    }

    /// <summary>The completion request a conversation and its options make (what the server's chat endpoint runs too).</summary>
    /// <remarks>
    /// Each message's text is its <see cref="TextContent"/> parts, joined as <see cref="ChatMessage.Text"/> joins them;
    /// <see cref="UsageContent"/> (a reply's token counts, no text) is passed over. The roles are system, developer
    /// (taken as system), user and assistant, as the server's.
    /// </remarks>
    /// <exception cref="NotSupportedException">Content other than text, function calls (assistant) and function
    /// results (tool) (an image or other data, reasoning text, …), tools or tool messages for a model whose template
    /// shows no tool-call format copal reads, a forced tool call (<see cref="RequiredChatToolMode"/>), or a response
    /// format other than text and JSON (<see cref="ChatResponseFormat.Json"/> without a schema is JSON mode;
    /// <see cref="ChatResponseFormat.ForJsonSchema(JsonElement, string?, string?)"/> is structured outputs, whose schema the
    /// engine refuses with a <see cref="CompletionRequestException"/> naming response_format where it cannot hold a
    /// reply to it), or an AdditionalProperties entry naming a field of vLLM's or llama.cpp's servers that copal does not
    /// implement, set to a value that would change the reply (<see cref="OtherServersFields"/>): the server answers 400
    /// unsupported_parameter for the same. Also a conversation id or a continuation token: the client keeps no state
    /// between calls.</exception>
    /// <exception cref="ArgumentException">A message of another role, or <see cref="ChatOptions.ModelId"/> naming a
    /// model other than the engine's (the server's 404 model_not_found).</exception>
    /// <exception cref="CompletionRequestException">An option out of range (MaxOutputTokens −1, TopP 1.5, an empty stop
    /// sequence, …): the message names the ChatOptions property, then the engine's field.</exception>
    public CompletionRequest ToRequest(IEnumerable<ChatMessage> messages, ChatOptions? options) => Prepare(messages, options, out _);

    private CompletionRequest Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options, out OfferedTools? tools)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (options?.ModelId is string model && model != _engine.ModelId)
        {
            throw new ArgumentException($"ChatOptions.ModelId '{model}' is not the model this client serves ('{_engine.ModelId}'); leave it null or give '{_engine.ModelId}'", nameof(options));
        }
        tools = Tools(options);
        // A stateless client: a conversation id would leave out the history the caller expects the model to see, and
        // copal never hands out a continuation token (it runs no background responses, which AllowBackgroundResponses
        // only permits). Reasoning options are a best-effort hint by contract; a template variable such as Qwen3's
        // enable_thinking is given through chat_template_kwargs.
        if (options?.ConversationId is string conversation)
        {
            throw new NotSupportedException($"ChatOptions.ConversationId '{conversation}': copal's chat client keeps no conversations; leave it null and send the whole history in the messages");
        }
        if (options?.ContinuationToken is not null)
        {
            throw new NotSupportedException("ChatOptions.ContinuationToken: copal's chat client runs no background responses and hands out no continuation tokens; leave it null");
        }
        RefuseOtherServersFields(options);
        // JSON without a schema is JSON mode; with one, structured outputs (the engine refuses a schema it cannot hold a reply to).
        (ResponseFormat format, JsonElement? schema) = options?.ResponseFormat switch
        {
            null or ChatResponseFormatText => (ResponseFormat.Text, (JsonElement?)null),
            ChatResponseFormatJson { Schema: null } => (ResponseFormat.JsonObject, null),
            ChatResponseFormatJson json => (ResponseFormat.JsonSchema, json.Schema),
            ChatResponseFormat other => throw new NotSupportedException($"ChatOptions.ResponseFormat {other.GetType().Name} is not supported; leave it unset, Text or Json"),
        };
        if (tools is { Forced: true })
        {
            // The call is made by structured outputs (ForcedToolCalls), which a response format of its own would contradict.
            if (format != ResponseFormat.Text)
            {
                throw new NotSupportedException("ChatOptions.ToolMode forces a call, whose reply is held to the function's parameters; it cannot also be held to ChatOptions.ResponseFormat: give one of the two");
            }
            (format, schema) = (ResponseFormat.JsonSchema, tools.Schema());
        }
        var turns = new List<ChatTurn>();
        if (!string.IsNullOrEmpty(options?.Instructions))
        {
            turns.Add(new ChatTurn("system", options.Instructions));
        }
        int index = 0;
        foreach (ChatMessage m in messages)
        {
            turns.AddRange(Turns(m, $"messages[{index++}]", _splitReasoning));
        }
        ChatPrompt prompt = Format(turns, options, tools);
        CompletionRequest request = new()
        {
            Prompt = prompt.Text,
            AddSpecialTokens = prompt.AddSpecialTokens,
            MaxTokens = options?.MaxOutputTokens ?? 256,
            Temperature = options?.Temperature ?? 0f,
            TopP = options?.TopP ?? 1f,
            TopK = options?.TopK ?? 0,
            MinP = AdditionalNumber(options, "min_p") ?? 0f,
            RepetitionPenalty = AdditionalNumber(options, "repetition_penalty") ?? 1f,
            PresencePenalty = options?.PresencePenalty ?? 0f,
            FrequencyPenalty = options?.FrequencyPenalty ?? 0f,
            LogitBias = LogitBias(options),
            // Any long is a seed (a negative one by its bits); none draws one, as OpenAI's API does.
            Seed = options?.Seed is long seed ? unchecked((ulong)seed) : null,
            ContinuesPrompt = false,
            Stop = [.. prompt.StopTexts, .. options?.StopSequences ?? []],
            ResponseFormat = format,
            JsonSchema = schema,
        };
        if (tools is { Forced: true })
        {
            RequireForcible(request, tools);
        }
        RequireInRange(request);
        return request;
    }

    // The prompt, its refusals named as the ChatOptions property the caller set: the formatter names the server's
    // fields (tools, and chat_template_kwargs as its parameter templateArguments). The messages are the caller's own
    // parameter, named so already.
    private ChatPrompt Format(List<ChatTurn> turns, ChatOptions? options, OfferedTools? tools)
    {
        IReadOnlyDictionary<string, object?>? arguments = TemplateArguments(options);
        try
        {
            return _formatter.Format(turns, arguments, tools?.Definitions);
        }
        catch (CompletionRequestException e) when (e.Parameter == "tools")
        {
            throw new CompletionRequestException(e.Parameter, $"ChatOptions.Tools: {e.Message}") { Unsupported = e.Unsupported };
        }
        catch (ArgumentException e) when (ChatTemplateArguments.Refused(e))
        {
            throw new ArgumentException($"AdditionalProperties[\"chat_template_kwargs\"]: {ChatTemplateArguments.Reason(e)}", nameof(options), e);
        }
    }

    // The engine's refusal of its prompt (longer than the context) named as the messages it was made from, the
    // caller's parameter, as the server's chat endpoint names it.
    private static CompletionRequestException FromMessages(CompletionRequestException e) =>
        new("messages", e.Message) { ContextLengthExceeded = e.ContextLengthExceeded, Unsupported = e.Unsupported };

    private static async IAsyncEnumerable<CompletionChunk> FromMessages(IAsyncEnumerable<CompletionChunk> chunks)
    {
        await using IAsyncEnumerator<CompletionChunk> e = chunks.GetAsyncEnumerator();
        while (true)
        {
            bool more;
            try
            {
                more = await e.MoveNextAsync().ConfigureAwait(false);
            }
            catch (CompletionRequestException refused) when (refused.Parameter == "prompt")
            {
                throw FromMessages(refused);
            }
            if (!more)
            {
                yield break;
            }
            yield return e.Current;
        }
    }

    // The ChatOptions property (or AdditionalProperties key) each engine field comes from.
    private static readonly Dictionary<string, string> s_optionOf = new(StringComparer.Ordinal)
    {
        ["max_tokens"] = "MaxOutputTokens",
        ["temperature"] = "Temperature",
        ["top_p"] = "TopP",
        ["top_k"] = "TopK",
        ["presence_penalty"] = "PresencePenalty",
        ["frequency_penalty"] = "FrequencyPenalty",
        ["stop"] = "StopSequences",
        ["response_format"] = "ResponseFormat",
        ["repetition_penalty"] = "AdditionalProperties[\"repetition_penalty\"]",
        ["min_p"] = "AdditionalProperties[\"min_p\"]",
        ["logit_bias"] = "AdditionalProperties[\"logit_bias\"]",
    };

    // The engine's checks of the fields (not the prompt, encoded when the request runs), here so that a value out of
    // range is refused by ToRequest too, and named as the ChatOptions property the caller set: the engine's message
    // names the server's field (max_tokens), which a caller of IChatClient never wrote.
    private void RequireInRange(CompletionRequest request)
    {
        try
        {
            _engine.CheckFields(request);
        }
        catch (CompletionRequestException e) when (s_optionOf.TryGetValue(e.Parameter, out string? option))
        {
            throw new CompletionRequestException(e.Parameter, $"ChatOptions.{option}: {e.Message}") { Unsupported = e.Unsupported };
        }
    }

    // The schema of a forced call is the function's parameters, which the caller did not give as a response format:
    // a keyword the engine cannot hold a reply to is named for the tools (as the server names it), checked here (the
    // schema only: the prompt is encoded when the request runs).
    private void RequireForcible(CompletionRequest request, OfferedTools tools)
    {
        try
        {
            _engine.CheckSchema(request);
        }
        catch (CompletionRequestException e) when (e.Parameter == "response_format")
        {
            throw new CompletionRequestException("tools", $"ChatOptions.ToolMode forces a call, and {tools.Unforcible(e.Message)}") { Unsupported = e.Unsupported };
        }
    }

    /// <summary>
    /// One message as its turns, by the server's rules: its text parts, and a role the formatters know; an assistant's
    /// <see cref="FunctionCallContent"/> as its tool_calls, a tool message's <see cref="FunctionResultContent"/>s as one
    /// tool turn each. A client that splits reasoning takes the <see cref="TextReasoningContent"/> of its own earlier
    /// replies as the assistant's reasoning_content, as the server takes a message's, so a conversation can carry its
    /// replies back whole.
    /// </summary>
    private IEnumerable<ChatTurn> Turns(ChatMessage message, string at, bool splitReasoning)
    {
        ArgumentNullException.ThrowIfNull(message, at);
        string role = message.Role.Value;
        if (!(message.Role == ChatRole.System || message.Role == ChatRole.User || message.Role == ChatRole.Assistant || message.Role == ChatRole.Tool
            || string.Equals(role, "developer", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException($"{at}: the role '{role}' is not one of system, developer, user, assistant or tool", "messages");
        }
        bool calls = message.Role == ChatRole.Assistant && message.Contents.Any(c => c is FunctionCallContent);
        if (message.Role == ChatRole.Tool && !message.Contents.Any(c => c is FunctionResultContent))
        {
            throw new ArgumentException($"{at}: a message of the role 'tool' holds the results of calls, FunctionResultContent with the CallId each answers; it has none", "messages");
        }
        foreach (AIContent content in message.Contents)
        {
            bool fits = content is UsageContent
                || (content is TextContent && message.Role != ChatRole.Tool)
                || (splitReasoning && content is TextReasoningContent && message.Role == ChatRole.Assistant)
                || (content is FunctionCallContent && message.Role == ChatRole.Assistant)
                || (content is FunctionResultContent && message.Role == ChatRole.Tool);
            if (!fits)
            {
                throw new NotSupportedException($"{at}: {content.GetType().Name} is not supported in a message of the role '{role}'; copal's chat client takes text "
                    + "(TextContent), an assistant's FunctionCallContent and a tool's FunctionResultContent");
            }
        }
        if (calls || message.Role == ChatRole.Tool)
        {
            if (_formatter is PlainChatFormatter)
            {
                throw new NotSupportedException($"{at}: {(calls ? "FunctionCallContent" : "the role 'tool'")} cannot be shown to this model: it has no chat template to write tool calls and results with");
            }
            return ToolTurns(message, at, calls ? "assistant" : "tool", TemplateFields(message));
        }
        // ChatRole compares its value ignoring case; the formatters get the lower-case names the server gives them.
        string name = message.Role == ChatRole.User ? "user" : message.Role == ChatRole.Assistant ? "assistant" : "system";
        Dictionary<string, object?> fields = TemplateFields(message);
        return [new ChatTurn(name, message.Text, fields.Count == 0 ? null : fields)];
    }

    /// <summary>
    /// What the server takes from a message beside its text, for a chat template (the plain format has no place for
    /// them): an assistant's <see cref="TextReasoningContent"/> as reasoning_content (Qwen3's template writes it for the
    /// steps after the last user message) and <see cref="ChatMessage.AuthorName"/> as name, as OpenAI's clients send it.
    /// </summary>
    private Dictionary<string, object?> TemplateFields(ChatMessage message)
    {
        var fields = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (_formatter is PlainChatFormatter)
        {
            return fields;
        }
        if (message.Role == ChatRole.Assistant && message.Contents.OfType<TextReasoningContent>().Any())
        {
            fields["reasoning_content"] = string.Concat(message.Contents.OfType<TextReasoningContent>().Select(r => r.Text));
        }
        if (!string.IsNullOrEmpty(message.AuthorName))
        {
            fields["name"] = message.AuthorName;
        }
        return fields;
    }

    private static ChatFinishReason ToFinish(FinishReason f) => f == FinishReason.Stop ? ChatFinishReason.Stop : ChatFinishReason.Length;

    private static UsageDetails ToUsage(CompletionUsage u) => new()
    {
        InputTokenCount = u.PromptTokens,
        OutputTokenCount = u.CompletionTokens,
        TotalTokenCount = u.TotalTokens,
        CachedInputTokenCount = u.CachedPromptTokens,
    };

    private static string NewId() => "chatcmpl-" + Guid.NewGuid().ToString("N");

    /// <summary>Does nothing: the engine belongs to the caller, who disposes it.</summary>
    public void Dispose()
    {
        // The engine belongs to the caller.
    }
}
