namespace Copal.Tensors.IO;

/// <summary>
/// Text that came from a file (a tensor name, a metadata value, a quoted JSON fragment) made fit for one line of a
/// terminal: line breaks as \n and \r, every other control character as \uXXXX. Printed as it is, an escape sequence
/// would reach the terminal and a line break or line separator would break the one line an error promises.
/// </summary>
internal static class OneLine
{
    /// <summary><paramref name="text"/> with its control characters escaped; a tab stays a tab, \r\n is one \n.</summary>
    public static string Of(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (!text.Any(NeedsEscape))
        {
            return text;
        }
        var escaped = new System.Text.StringBuilder(text.Length + 16);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
            {
                continue; // \r\n is one line break, written \n below
            }
            escaped.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                _ when NeedsEscape(c) => $"\\u{(int)c:X4}",
                _ => c.ToString(),
            });
        }
        return escaped.ToString();
    }

    private static bool NeedsEscape(char c) => c != '\t' && (char.IsControl(c) || c is '\u2028' or '\u2029');
}
