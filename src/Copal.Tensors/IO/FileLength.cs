namespace Copal.Tensors.IO;

/// <summary>
/// The bytes of the file a path names, through symbolic links. <see cref="FileInfo.Length"/> of a link is the link's
/// own (a few dozen bytes), and a Hugging Face cache's snapshot links every file to its blob: its 9 MB tokenizer.json
/// passed a free-space check as 49 bytes, and its weights chose to be read into memory however large they were.
/// </summary>
internal static class FileLength
{
    /// <summary>The length of the file <paramref name="path"/> names (its final target where it is a link); 0 where there is none.</summary>
    public static long Of(string path)
    {
        var info = new FileInfo(path);
        try
        {
            FileInfo file = info.LinkTarget is null ? info : info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info;
            return file.Exists ? file.Length : 0;
        }
        catch (IOException)
        {
            return 0; // a loop of links: reported where the file is opened
        }
    }
}
