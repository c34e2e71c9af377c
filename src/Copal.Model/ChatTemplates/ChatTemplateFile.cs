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

    /// <summary>The template the folder's file holds, as written; null where the folder has none.</summary>
    /// <exception cref="ChatTemplateException">The file cannot be read, or is larger than any side file is allowed to be.</exception>
    public static string? Read(string modelDir)
    {
        string path = PathIn(modelDir);
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            return BoundedFile.ReadAllText(path, BoundedFile.SideFileMaxBytes, "a " + Name);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ChatTemplateException($"{path}: cannot be read: {ReadFailure.Reason(e)}", e);
        }
    }
}
