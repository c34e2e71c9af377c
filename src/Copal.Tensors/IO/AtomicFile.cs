using System.Text;

namespace Copal.Tensors.IO;

/// <summary>
/// An output file written under a temporary sibling name and renamed only when complete, with the output's checks
/// made before any work, so a wrong path is found at once and never after minutes of computing. A link is written
/// through: the temporary file lies beside the file it names, and the link stays. A stream (/dev/null, a named pipe,
/// /dev/stdout: <see cref="FileKind"/>) is written into, never replaced.
/// </summary>
internal static class AtomicFile
{
    /// <summary>
    /// Checks that <paramref name="path"/> can be written as a file: it is not a folder, and a file can be created in
    /// its folder or, where that does not exist yet, in the nearest one that does (a temporary one is, and deleted: a
    /// read-only file system or a folder without write permission shows now). Missing folders are made only when the
    /// file is written. <paramref name="outputName"/> is how the user gave it ("--out").
    /// A stream needs no check: it is opened when the text is written.
    /// </summary>
    public static void Prepare(string path, string outputName)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (FileKind.IsStream(path))
        {
            return;
        }
        string full = RealPath.Resolve(path, outputName);
        if (Directory.Exists(full))
        {
            throw new IOException($"{outputName} '{path}' is a folder; expected a file");
        }
        Probe(MadeFolders.NearestExistingAbove(full) ?? ".", Path.GetFileName(full), path, outputName);
    }

    /// <summary>
    /// Checks that files can be written into the folder <paramref name="path"/>, which a run makes (if missing) and
    /// writes into only when its work is done: a file can be created in it or, where it does not exist yet, in the
    /// nearest folder above that does. A read-only file system or a folder without write permission shows now, not
    /// after the work. <paramref name="outputName"/> is how the user gave it ("--state").
    /// </summary>
    public static void RequireWritableFolder(string path, string outputName)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = RealPath.Resolve(path, outputName);
        string existing = Directory.Exists(full) ? full : MadeFolders.NearestExistingAbove(full) ?? ".";
        Probe(existing, Path.GetFileName(full), path, outputName);
    }

    // Creates and deletes a temporary file named after `name` in `folder`; a failure names the output as given.
    private static void Probe(string folder, string name, string path, string outputName)
    {
        string probe = TemporaryNames.Sibling(Path.Join(folder, name), "tmp");
        try
        {
            // CreateNew, as the output's temporary file: a link planted at the name is not opened through.
            new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None).Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{outputName} '{path}': cannot write there: {AtomicDirectory.Reason(e)}", e);
        }
        // Only a probe that was created is deleted: deleting one that never was could fail in its own words.
        File.Delete(probe);
    }

    /// <summary>Writes <paramref name="text"/> to <paramref name="path"/> through a temporary file; a failure names the output, not the temporary file.</summary>
    public static void WriteAllText(string path, string outputName, string text) => WriteText(path, outputName, writer => writer.Write(text));

    /// <summary>
    /// Writes what <paramref name="write"/> writes (UTF-8, no byte order mark) to <paramref name="path"/> through a
    /// temporary file, renamed over the output once <paramref name="write"/> returns: a large document is written as it
    /// is made, never held whole in memory, and an exception from <paramref name="write"/> (a cancellation, a failed
    /// computation) leaves no output and no temporary file. A failure to write names the output; so does an
    /// <see cref="IOException"/> thrown by <paramref name="write"/> itself, which should therefore read no other files.
    /// </summary>
    public static void WriteText(string path, string outputName, Action<TextWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        Prepare(path, outputName);
        if (FileKind.IsStream(path))
        {
            WriteInto(path, outputName, write);
            return;
        }
        // Through links: the file they name is replaced, beside it, and the links keep pointing at it.
        string full = RealPath.Resolve(path);
        string temp = TemporaryNames.Sibling(full, "tmp");
        IReadOnlyList<string> made = [];
        bool written = false;
        try
        {
            made = MadeFolders.Create(Path.GetDirectoryName(full) ?? ".");
            // CreateNew: the temporary name is predictable and may lie in a shared folder, and a link planted there
            // would be opened through (the file it names truncated and written) where an existing name is not refused.
            using (var writer = new StreamWriter(new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None), s_utf8))
            {
                write(writer);
            }
            Durable.FlushFile(temp);
            KeepMode(full, temp); // after the flush, which reads the file: a mode without read permission would refuse it
            File.Move(temp, full, overwrite: true);
            Durable.FlushParent(full);
            written = true;
        }
        catch (Exception e) when (AtomicDirectory.IsWriteFailure(e))
        {
            throw new IOException($"{outputName} '{path}': cannot write it: {AtomicDirectory.Reason(e)}", e);
        }
        finally
        {
            if (!written)
            {
                DeleteIfThere(temp); // before the folders it lies in
                MadeFolders.RemoveEmpty(made);
            }
        }
    }

    /// <summary>
    /// Gives <paramref name="temp"/> the permissions of the file it will replace, as <c>sed -i</c> does: a file its
    /// owner made read-only (or private) stays so once replaced, rather than taking the umask's mode. Nothing to keep
    /// where no file is there yet, or on Windows. The read, write and execute bits only: the new file belongs to
    /// whoever runs copal, so a set-user-ID or set-group-ID bit kept from another owner's file would make a file that
    /// runs as this user (root, say) where the old one ran as its owner.
    /// </summary>
    private static void KeepMode(string full, string temp)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(full))
        {
            return;
        }
        File.SetUnixFileMode(temp, File.GetUnixFileMode(full) & PermissionBits);
    }

    private const UnixFileMode PermissionBits = (UnixFileMode)0x1FF; // rwx for user, group and others (0777)

    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false);

    // File.Delete throws where the file's folder does not exist (it was never made).
    private static void DeleteIfThere(string file)
    {
        if (File.Exists(file))
        {
            File.Delete(file);
        }
    }

    private static void WriteInto(string path, string outputName, Action<TextWriter> write)
    {
        try
        {
            // Open, not Create: a device or a pipe is neither created nor truncated, only written.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            using var writer = new StreamWriter(stream, s_utf8);
            write(writer);
        }
        catch (Exception e) when (AtomicDirectory.IsWriteFailure(e))
        {
            throw new IOException($"{outputName} '{path}': cannot write it: {AtomicDirectory.Reason(e)}", e);
        }
    }
}
