namespace Copal.Model.Chat.ToolCalls;

/// <summary>Reading a reply's text by position, as the tool-call readers walk their blocks.</summary>
internal static class ReplyText
{
    /// <summary>Whether <paramref name="tag"/> stands in <paramref name="text"/> at <paramref name="at"/>.</summary>
    public static bool At(string text, int at, string tag) => string.CompareOrdinal(text, at, tag, 0, tag.Length) == 0;

    /// <summary>The first position at or after <paramref name="at"/> that is not whitespace (the text's length if none).</summary>
    public static int SkipWhitespace(string text, int at)
    {
        while (at < text.Length && char.IsWhiteSpace(text[at]))
        {
            at++;
        }
        return at;
    }
}
