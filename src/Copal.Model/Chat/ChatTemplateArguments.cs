using System.Text.Json;

namespace Copal.Model.Chat;

/// <summary>
/// chat_template_kwargs, as vLLM and SGLang name them: variables a request gives the model's chat template (Qwen3's
/// enable_thinking), read the same way by the server, the chat client and <c>generate --chat</c>.
/// </summary>
public static class ChatTemplateArguments
{
    /// <summary>A JSON object's entries as template variables; a name given twice keeps its last value, as the other servers' JSON readers do.</summary>
    /// <exception cref="ArgumentException"><paramref name="json"/> is not an object.</exception>
    public static Dictionary<string, object?> FromJson(JsonElement json)
    {
        if (json.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException($"template arguments must be a JSON object, got {json.ValueKind}", nameof(json));
        }
        var arguments = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (JsonProperty property in json.EnumerateObject())
        {
            arguments[property.Name] = property.Value.Clone();
        }
        return arguments;
    }

    /// <summary>
    /// Whether <paramref name="e"/> is a formatter refusing its template arguments (its parameter
    /// <c>templateArguments</c>): one that would replace what the conversation sets, a value a template cannot hold, or
    /// any argument for a model without a chat template.
    /// </summary>
    public static bool Refused(ArgumentException e) => e is { ParamName: "templateArguments" };

    /// <summary>What <see cref="Refused"/> says, on one line, without .NET's "(Parameter …)" suffix.</summary>
    public static string Reason(ArgumentException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal);
    }
}
