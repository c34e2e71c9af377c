using System.Text.Json;
using Copal.Tensors.IO;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// A model's chat template (the Jinja <c>chat_template</c> of tokenizer_config.json), rendered as Hugging Face's
/// <c>apply_chat_template</c> renders it in transformers.js (with @huggingface/jinja): the same variables, the same
/// whitespace rules, the same text. Templates are parsed when loaded; a construct outside the supported subset is
/// refused then (or, for runtime-only cases, when rendering) with a <see cref="ChatTemplateException"/> that names it
/// and its line and column. Rendering is thread-safe.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The special-token variables transformers.js passes to a template (when the config sets them).</summary>
    public static IReadOnlyList<string> SpecialTokenNames { get; } =
        ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private readonly Dictionary<string, (TemplateSource Source, TemplateBody Body)> _templates;
    // The templates that read a message's content as a list of parts (ContentFormat).
    private readonly HashSet<TemplateBody> _contentAsParts = new(ReferenceEqualityComparer.Instance);
    private readonly string _origin;

    /// <summary>
    /// The text of the template chats are rendered with (the "default" of a named list), as the model gives it: what a
    /// server hands a client that renders the template itself (vLLM's /tokenizer_info); null for a list without one.
    /// </summary>
    public string? DefaultText => _templates.TryGetValue("default", out var t) ? t.Source.Original : null;

    /// <summary>
    /// The text of the template a conversation with tools is rendered with (a named list's "tool_use", else its
    /// "default"): where a model's template shows how it writes a tool call (<see cref="Chat.ToolCalls.ToolCallFormats.Detect"/>).
    /// </summary>
    public string ToolsText => Select(hasTools: true).Item1.Original;

    /// <summary>One template with the given special tokens (e.g. bos_token → "&lt;s&gt;"; empty ones are left undefined, as transformers.js does).</summary>
    public ChatTemplate(string template, IReadOnlyDictionary<string, string>? specialTokens = null)
        : this(new Dictionary<string, string> { ["default"] = template }, specialTokens, "chat template", named: false)
    {
    }

    private ChatTemplate(IReadOnlyDictionary<string, string> templates, IReadOnlyDictionary<string, string>? specialTokens, string origin, bool named)
    {
        ArgumentNullException.ThrowIfNull(templates);
        _origin = origin;
        IsNamedList = named;
        _templates = new Dictionary<string, (TemplateSource, TemplateBody)>(StringComparer.Ordinal);
        foreach ((string name, string text) in templates)
        {
            var source = new TemplateSource(text);
            try
            {
                _templates[name] = (source, Parser.Parse(source));
                if (ContentFormat.IteratesContentParts(_templates[name].Body))
                {
                    _contentAsParts.Add(_templates[name].Body);
                }
            }
            catch (ChatTemplateException e) when (named)
            {
                throw new ChatTemplateException($"{origin}, template '{name}': {e.Message}", e);
            }
            catch (ChatTemplateException e) when (origin != "chat template")
            {
                throw new ChatTemplateException($"{origin}: {e.Message}", e);
            }
        }
        var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((string key, string value) in specialTokens ?? new Dictionary<string, string>())
        {
            if (!SpecialTokenNames.Contains(key))
            {
                throw new ArgumentException($"special token '{key}' is not one of {string.Join(", ", SpecialTokenNames)}", nameof(specialTokens));
            }
            if (!string.IsNullOrEmpty(value))
            {
                tokens[key] = value;
            }
        }
        SpecialTokens = tokens;
    }

    /// <summary>
    /// Where the template was read, for messages: the model folder's chat_template.jinja or tokenizer_config.json,
    /// or "chat template" for one given directly.
    /// </summary>
    public string Source => _origin;

    /// <summary>The special tokens given to the template (only those the config sets to a non-empty string).</summary>
    public IReadOnlyDictionary<string, string> SpecialTokens { get; }

    /// <summary>The template names: "default" for a single template, else the names of the config's named list.</summary>
    public IReadOnlyCollection<string> Names => _templates.Keys;

    private bool IsNamedList { get; }

    /// <summary>
    /// Reads <c>tokenizer_config.json</c> in <paramref name="modelDir"/>: <c>chat_template</c> as a string or as the
    /// named-list form <c>[{"name": ..., "template": ...}]</c>, and the special tokens (strings or AddedToken objects
    /// <c>{"content": ...}</c>). A <c>chat_template.jinja</c> beside it (<see cref="ChatTemplateFile"/>) is the template
    /// instead, as in transformers, and the files of an <c>additional_chat_templates</c> folder are templates of their
    /// names beside it (a list, so tools choose tool_use). Returns null when the folder has no template.
    /// </summary>
    /// <exception cref="ChatTemplateException">The file is not valid JSON, a field has the wrong shape, or a template uses an unsupported construct.</exception>
    public static ChatTemplate? FromDirectory(string modelDir)
    {
        // "" would read the working folder's tokenizer_config.json (Path.Combine("", name) is name).
        ArgumentException.ThrowIfNullOrEmpty(modelDir);
        string path = Path.Combine(modelDir, "tokenizer_config.json");
        string? file = ChatTemplateFile.Read(modelDir);
        IReadOnlyDictionary<string, string> additional = ChatTemplateFile.ReadAdditional(modelDir);
        if (!File.Exists(path))
        {
            if (file is null && additional.Count == 0)
            {
                return null;
            }
            var alone = new Dictionary<string, string>(StringComparer.Ordinal);
            if (file is not null)
            {
                alone["default"] = file;
            }
            return new ChatTemplate(WithAdditional(alone, additional), null, file is null ? ChatTemplateFile.AdditionalPathIn(modelDir) : ChatTemplateFile.PathIn(modelDir), named: additional.Count > 0);
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ChatTemplateException($"{path}: not valid JSON {JsonProblem.At(e)}", e);
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new ChatTemplateException($"{path}: expected a JSON object, found {root.ValueKind}");
            }
            JsonElement ct = default;
            if (file is null && (!root.TryGetProperty("chat_template", out ct) || ct.ValueKind == JsonValueKind.Null) && additional.Count == 0)
            {
                return null;
            }
            var templates = new Dictionary<string, string>(StringComparer.Ordinal);
            bool named = false;
            string origin = path;
            if (file is not null)
            {
                // transformers reads chat_template.jinja in place of the config's chat_template, whatever that holds.
                templates["default"] = file;
                origin = ChatTemplateFile.PathIn(modelDir);
            }
            else if (ct.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
            {
                switch (ct.ValueKind)
                {
                    case JsonValueKind.String:
                        templates["default"] = ct.GetString()!;
                        named = false;
                        break;
                    case JsonValueKind.Array:
                        named = true;
                        int i = 0;
                        foreach (JsonElement item in ct.EnumerateArray())
                        {
                            if (item.ValueKind != JsonValueKind.Object
                                || !item.TryGetProperty("name", out JsonElement n) || n.ValueKind != JsonValueKind.String
                                || !item.TryGetProperty("template", out JsonElement t) || t.ValueKind != JsonValueKind.String)
                            {
                                throw new ChatTemplateException($"{path}: chat_template[{i}] must be {{\"name\": string, \"template\": string}}, found {item.ValueKind}");
                            }
                            templates[n.GetString()!] = t.GetString()!;
                            i++;
                        }
                        break;
                    default:
                        throw new ChatTemplateException($"{path}: chat_template must be a string or a list of {{name, template}}, found {ct.ValueKind}");
                }
            }
            var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string name in SpecialTokenNames)
            {
                if (!root.TryGetProperty(name, out JsonElement tok))
                {
                    continue;
                }
                string? content = tok.ValueKind switch
                {
                    JsonValueKind.String => tok.GetString(),
                    JsonValueKind.Null or JsonValueKind.False => null,
                    JsonValueKind.Object when tok.TryGetProperty("content", out JsonElement c) && c.ValueKind == JsonValueKind.String => c.GetString(),
                    _ => throw new ChatTemplateException($"{path}: {name} must be a string or {{\"content\": string}}, found {tok.ValueKind}"),
                };
                if (!string.IsNullOrEmpty(content))
                {
                    tokens[name] = content;
                }
            }
            return new ChatTemplate(WithAdditional(templates, additional), tokens, origin, named || additional.Count > 0);
        }
    }

    // transformers merges additional_chat_templates/NAME.jinja into the templates by name, and with more than one
    // chooses among them as in a named list (tool_use where tools are given, else default).
    private static Dictionary<string, string> WithAdditional(Dictionary<string, string> templates, IReadOnlyDictionary<string, string> additional)
    {
        foreach ((string name, string text) in additional)
        {
            templates[name] = text;
        }
        return templates;
    }

    /// <summary>
    /// Whether the template chats are rendered with (<see cref="DefaultText"/>'s, or a list's tool_use one) reads a
    /// message's content as a list of parts: then each message's text is handed to it as one part,
    /// <c>[{"type": "text", "text": ...}]</c> (<see cref="ContentFormat"/>).
    /// </summary>
    public bool ReadsContentAsParts(bool hasTools = false) => _contentAsParts.Contains(Select(hasTools).Item2);

    /// <summary>
    /// Renders the conversation. The template sees <c>messages</c>, <c>add_generation_prompt</c>, <c>tools</c> (none
    /// when null), <c>documents</c> (none), the special tokens, then <paramref name="extra"/> (which may override any of
    /// these, e.g. <c>enable_thinking</c>, <c>date_string</c>, <c>documents</c>). For a named list, the "tool_use"
    /// template is used when tools are given and it exists, else "default".
    /// </summary>
    /// <exception cref="ChatTemplateRaisedException">The template rejected the conversation with raise_exception.</exception>
    /// <exception cref="ChatTemplateException">The template needs something the renderer (like the reference) refuses.</exception>
    /// <exception cref="ArgumentException">An input value has a type that cannot be passed to a template.</exception>
    public string Render(IReadOnlyList<ChatTemplateMessage> messages, bool addGenerationPrompt,
        IReadOnlyList<object>? tools = null, IReadOnlyDictionary<string, object?>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        (TemplateSource source, TemplateBody body) = Select(tools is not null);

        var context = new OrderedDictionary<string, Value>(StringComparer.Ordinal)
        {
            ["messages"] = new ArrayValue(messages.Select((m, i) => m.ToValue($"messages[{i}]", _contentAsParts.Contains(body))).ToList()),
            ["add_generation_prompt"] = BooleanValue.Of(addGenerationPrompt),
            ["tools"] = tools is null ? NullValue.Instance : ValueConverter.From(tools, "tools"),
            ["documents"] = NullValue.Instance,
        };
        foreach ((string name, string value) in SpecialTokens)
        {
            context[name] = new StringValue(value);
        }
        foreach ((string name, object? value) in extra ?? new Dictionary<string, object?>())
        {
            context[name] = ValueConverter.From(value, name);
        }

        var globals = new Scope(null);
        Builtins.DeclareGlobals(globals);
        foreach ((string name, Value value) in context)
        {
            globals.Declare(name, value);
        }
        try
        {
            return new Interpreter(source).Run(body, globals);
        }
        catch (ChatTemplateException e) when (_origin != "chat template" && e is not ChatTemplateRaisedException)
        {
            throw new ChatTemplateException($"{_origin}: {e.Message}", e);
        }
    }

    private (TemplateSource, TemplateBody) Select(bool hasTools)
    {
        if (!IsNamedList)
        {
            return _templates["default"];
        }
        if (hasTools && _templates.TryGetValue("tool_use", out var toolUse))
        {
            return toolUse;
        }
        if (_templates.TryGetValue("default", out var dflt))
        {
            return dflt;
        }
        throw new ChatTemplateException($"{_origin}: the chat_template list has no 'default' template{(hasTools ? " and no 'tool_use'" : "")}; it has {(_templates.Count == 0 ? "no templates" : string.Join(", ", _templates.Keys.Order(StringComparer.Ordinal)))}");
    }
}
