using Copal.Model.ChatTemplates;

namespace Copal.Model.Chat.ToolCalls;

/// <summary>How a model writes the tool calls of its reply: what its chat template taught it.</summary>
public enum ToolCallFormat
{
    /// <summary>No format copal reads: tools cannot be offered to the model.</summary>
    None,

    /// <summary>
    /// Hermes 2 Pro's, which Qwen2.5, Qwen3, QwQ and Granite 4 took: any text, then one block per call,
    /// <c>&lt;tool_call&gt;{"name": …, "arguments": {…}}&lt;/tool_call&gt;</c>.
    /// </summary>
    Hermes,

    /// <summary>
    /// Llama 3.1–3.3's JSON tool calling: the whole reply is <c>{"name": …, "parameters": {…}}</c>, several joined by
    /// <c>;</c>, after an optional <c>&lt;|python_tag|&gt;</c>.
    /// </summary>
    Llama3Json,

    /// <summary>
    /// Qwen3-Coder's: any text, then one block per call, <c>&lt;tool_call&gt;&lt;function=NAME&gt;</c> with each argument
    /// as <c>&lt;parameter=NAME&gt;</c> raw text <c>&lt;/parameter&gt;</c>, typed by the function's parameters schema
    /// (<see cref="Qwen3CoderCalls"/>).
    /// </summary>
    Qwen3Coder,
}

/// <summary>Names and detection of <see cref="ToolCallFormat"/>s.</summary>
internal static class ToolCallFormats
{
    /// <summary>The formats by the names <c>--tool-call-parser</c> takes (vLLM's names).</summary>
    public static IReadOnlyDictionary<string, ToolCallFormat> ByName { get; } = new Dictionary<string, ToolCallFormat>(StringComparer.Ordinal)
    {
        ["hermes"] = ToolCallFormat.Hermes,
        ["llama3_json"] = ToolCallFormat.Llama3Json,
        ["qwen3_coder"] = ToolCallFormat.Qwen3Coder,
    };

    /// <summary>The name of <paramref name="format"/> in <see cref="ByName"/>; "none" for <see cref="ToolCallFormat.None"/>.</summary>
    public static string Name(ToolCallFormat format) => format switch
    {
        ToolCallFormat.Hermes => "hermes",
        ToolCallFormat.Llama3Json => "llama3_json",
        ToolCallFormat.Qwen3Coder => "qwen3_coder",
        _ => "none",
    };

    /// <summary>
    /// The format a model's chat template asks for, read from the template a conversation with tools is rendered by:
    /// Qwen3-Coder's where it writes <c>&lt;tool_call&gt;</c> blocks with <c>&lt;function=…&gt;</c> inside, Hermes where
    /// it writes other <c>&lt;tool_call&gt;</c> blocks (of JSON), Llama 3's JSON where it asks for
    /// <c>{"name": function name, "parameters": …}</c>; <see cref="ToolCallFormat.None"/> otherwise, with the reason.
    /// </summary>
    public static (ToolCallFormat Format, string Reason) Detect(ChatTemplate? template)
    {
        if (template is null)
        {
            return (ToolCallFormat.None, "the model has no chat template, so nothing shows it how to call a tool");
        }
        string text = template.ToolsText;
        if (text.Contains("<tool_call>", StringComparison.Ordinal))
        {
            return text.Contains("<function=", StringComparison.Ordinal)
                ? (ToolCallFormat.Qwen3Coder, "its chat template writes Qwen3-Coder's <tool_call> blocks of <function=…> and <parameter=…>")
                : (ToolCallFormat.Hermes, "its chat template writes <tool_call> blocks");
        }
        if (text.Contains("\"parameters\": dictionary of argument name", StringComparison.Ordinal))
        {
            return (ToolCallFormat.Llama3Json, "its chat template asks for {\"name\": …, \"parameters\": …}");
        }
        return (ToolCallFormat.None, text.Contains("tools", StringComparison.Ordinal)
            ? "its chat template writes tool calls in a format copal does not read"
            : "its chat template does not show the model any tools");
    }
}
