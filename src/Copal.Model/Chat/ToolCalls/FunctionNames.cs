using System.Text.RegularExpressions;

namespace Copal.Model.Chat.ToolCalls;

/// <summary>
/// OpenAI's rule for a tool function's name: 1 to 64 letters, digits, underscores or dashes. The server and the chat
/// client hold a name to it alike, so a function a request may not offer cannot be offered through the library either
/// (a name with a space or a '>' would also not come back intact from a call format such as Qwen3-Coder's
/// <c>&lt;function=NAME&gt;</c>).
/// </summary>
internal static partial class FunctionNames
{
    /// <summary>What a name must be, for messages.</summary>
    public const string Rule = "1 to 64 letters, digits, underscores or dashes";

    /// <summary>Whether <paramref name="name"/> keeps OpenAI's rule.</summary>
    public static bool IsValid(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Pattern().IsMatch(name);
    }

    // Up to the end of the text (\z): $ also matches before a last line break, and took "f\n".
    [GeneratedRegex(@"^[A-Za-z0-9_-]{1,64}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
