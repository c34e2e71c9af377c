using Copal.Tensors.IO;

namespace Copal.Model.ChatTemplates;

/// <summary>
/// The chat template files of a model folder, which a model written from it (pruned, compacted, densified, or a
/// synthetic model given a tokenizer folder) takes along so that it chats as its input did.
/// </summary>
internal static class ChatTemplateFiles
{
    /// <summary><c>chat_template.jinja</c>: the default template, saved apart from tokenizer_config.json by transformers 4.50 and later.</summary>
    public const string DefaultFile = ChatTemplateFile.Name;

    /// <summary>
    /// Copies the named templates of <paramref name="inputDirectory"/>'s <c>additional_chat_templates</c> folder (its
    /// <c>*.jinja</c> files, the ones read) into the same folder of <paramref name="output"/>; nothing where the input has none.
    /// </summary>
    public static void CopyAdditional(string inputDirectory, AtomicDirectory output)
    {
        ArgumentNullException.ThrowIfNull(output);
        string folder = ChatTemplateFile.AdditionalPathIn(inputDirectory);
        if (!Directory.Exists(folder))
        {
            return;
        }
        string name = Path.GetFileName(folder);
        Directory.CreateDirectory(output.File(name));
        foreach (string from in Additional(folder))
        {
            output.CopyIn(from, Path.Combine(name, Path.GetFileName(from)));
        }
    }

    /// <summary>The bytes <see cref="CopyAdditional"/> copies from <paramref name="inputDirectory"/>, for a free-space check made before.</summary>
    public static long AdditionalBytes(string inputDirectory)
    {
        string folder = ChatTemplateFile.AdditionalPathIn(inputDirectory);
        return Directory.Exists(folder) ? Additional(folder).Sum(FileLength.Of) : 0;
    }

    private static IEnumerable<string> Additional(string folder) => Directory.EnumerateFiles(folder, "*.jinja");
}
