using System.Text;
using Copal.Tensors.IO;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// <c>chat_template.jinja</c>, where transformers 4.50 and later save a tokenizer's chat template instead of in
/// tokenizer_config.json; transformers reads it in place of the config's <c>chat_template</c>.
/// </summary>
internal static class ChatTemplateFile
{
    /// <summary>The file's name in a model folder.</summary>
    public const string Name = "chat_template.jinja";

    /// <summary>The file in <paramref name="modelDir"/>.</summary>
    public static string PathIn(string modelDir) => Path.Combine(modelDir, Name);

    /// <summary>
    /// The template the folder's file holds, as written; null where the folder has none. Decoded as transformers opens
    /// it (<c>encoding="utf-8"</c>, text mode): bytes that are not UTF-8 are refused rather than rendered as U+FFFD into
    /// every prompt, a byte-order mark is the template's first character, not a sign of another encoding, and "\r\n"
    /// or a lone "\r" ends a line as "\n" does (<see cref="Tokenization.LineEnds"/>).
    /// </summary>
    /// <exception cref="ChatTemplateException">The file cannot be read, is larger than any side file is allowed to be, or is not UTF-8.</exception>
    public static string? Read(string modelDir)
    {
        string path = PathIn(modelDir);
        if (!File.Exists(path))
        {
            return null;
        }
        return ReadText(path);
    }

    /// <summary>The folder of named templates beside the file, as transformers saves a list's templates other than the default.</summary>
    public static string AdditionalPathIn(string modelDir) => Path.Combine(modelDir, "additional_chat_templates");

    /// <summary>
    /// The templates of <c>additional_chat_templates/NAME.jinja</c>, by NAME, read as <see cref="Read"/> reads the file;
    /// none where the folder is absent.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ReadAdditional(string modelDir)
    {
        var templates = new Dictionary<string, string>(StringComparer.Ordinal);
        string folder = AdditionalPathIn(modelDir);
        if (!Directory.Exists(folder))
        {
            return templates;
        }
        try
        {
            foreach (string path in Directory.EnumerateFiles(folder, "*.jinja").Order(StringComparer.Ordinal))
            {
                templates[Path.GetFileNameWithoutExtension(path)] = ReadText(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ChatTemplateException($"{folder}: cannot be read: {ReadFailure.Reason(e)}", e);
        }
        return templates;
    }

    private static string ReadText(string path)
    {
        byte[] bytes;
        try
        {
            bytes = BoundedFile.ReadAllBytes(path, BoundedFile.SideFileMaxBytes, "a " + Name);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ChatTemplateException($"{path}: cannot be read: {ReadFailure.Reason(e)}", e);
        }
        try
        {
            // Line ends as transformers' text-mode open reads them: a template saved on Windows renders as the original.
            return Tokenization.LineEnds.AsNewlines(s_strictUtf8.GetString(bytes));
        }
        catch (DecoderFallbackException e)
        {
            throw new ChatTemplateException($"{path}: expected UTF-8 text, found byte 0x{e.BytesUnknown?[0]:X2} at offset {e.Index} that is not UTF-8", e);
        }
    }

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
