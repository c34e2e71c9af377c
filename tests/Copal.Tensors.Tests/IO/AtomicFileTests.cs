using System.Diagnostics;
using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// A file output is replaced whole, through links, and a stream (a device, a named pipe) is written into: renaming
/// over either would replace the link or the device with a plain file.
/// </summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    [Fact]
    public void A_file_is_replaced_whole_and_no_temporary_file_stays()
    {
        string path = _dir.File("out.json");
        File.WriteAllText(path, "old, and longer than the new text");
        AtomicFile.WriteAllText(path, "--out", "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFileSystemEntries(_dir.Path));
    }

    /// <summary>
    /// A document written as it is made: a failure half way (a cancelled run, a computation that throws) leaves the old
    /// file as it was, no temporary file, and no folder the write made for it.
    /// </summary>
    [Fact]
    public void A_text_written_piece_by_piece_that_fails_half_way_leaves_the_old_file_and_nothing_else()
    {
        string path = _dir.File("out.json");
        File.WriteAllText(path, "old");
        Assert.Throws<OperationCanceledException>(() => AtomicFile.WriteText(path, "--out", writer =>
        {
            writer.Write(new string('x', 1 << 20)); // past the writer's buffer: bytes are on the disk
            throw new OperationCanceledException();
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFileSystemEntries(_dir.Path));

        string nested = Path.Combine(_dir.Path, "made", "for", "it.json");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.WriteText(nested, "--out", writer =>
        {
            writer.Write("{");
            throw new InvalidOperationException("the computation failed");
        }));
        Assert.Equal([path], Directory.GetFileSystemEntries(_dir.Path));

        AtomicFile.WriteText(path, "--out", writer =>
        {
            writer.Write("{\"a\":");
            writer.Write("1}");
        });
        Assert.Equal("{\"a\":1}", File.ReadAllText(path));
    }

    [LinuxFact]
    public void The_file_is_flushed_to_the_disk_before_it_replaces_the_old_one_and_the_rename_after()
    {
        string path = _dir.File("out.json");
        File.WriteAllText(path, "old");
        using var flushes = new FlushRecorder(_dir.Path);
        AtomicFile.WriteAllText(path, "--out", "new");
        Assert.Equal(2, flushes.Paths.Count);
        Assert.Matches(@"/\.out\.json\.tmp-[0-9a-f-]+$", flushes.Paths[0]); // the temporary file, before the rename
        Assert.Equal(_dir.Path, flushes.Paths[1]);
    }

    /// <summary>
    /// The new file takes the permissions of the one it replaces, as `sed -i` keeps them: a file made read-only (or
    /// private to its owner) stayed writable by its owner and readable by all once replaced, its protection lost
    /// without a word. A file written where none was has the usual mode (the umask's).
    /// </summary>
    [LinuxFact]
    public void A_replaced_file_keeps_its_permissions()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no Unix modes (the fact runs on Linux only)
        }
        foreach (UnixFileMode mode in new[] { UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, UnixFileMode.UserRead | UnixFileMode.UserWrite })
        {
            string path = _dir.File($"kept-{(int)mode}.json");
            File.WriteAllText(path, "old");
            File.SetUnixFileMode(path, mode);
            AtomicFile.WriteAllText(path, "--out", "new");
            Assert.Equal("new", File.ReadAllText(path));
            Assert.Equal(mode, File.GetUnixFileMode(path));
        }
        // Through a link, the mode of the file it points to; the link's own (always 777) means nothing.
        string target = _dir.File("target.json");
        File.WriteAllText(target, "old");
        File.SetUnixFileMode(target, UnixFileMode.UserRead);
        string link = File.CreateSymbolicLink(_dir.File("link.json"), target).FullName;
        AtomicFile.WriteAllText(link, "--out", "new");
        Assert.Equal(UnixFileMode.UserRead, File.GetUnixFileMode(target));
    }

    /// <summary>
    /// The set-user-ID, set-group-ID and sticky bits are not kept: the new file is the runner's, and a set-user-ID file
    /// of another owner, replaced by root, came back as a set-user-ID root file.
    /// </summary>
    [LinuxFact]
    public void A_replaced_file_keeps_its_permissions_but_not_its_set_id_bits()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // no Unix modes (the fact runs on Linux only)
        }
        const UnixFileMode permissions = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute;
        string path = _dir.File("set-id.json");
        File.WriteAllText(path, "old");
        File.SetUnixFileMode(path, permissions | UnixFileMode.SetUser | UnixFileMode.SetGroup | UnixFileMode.StickyBit);
        AtomicFile.WriteAllText(path, "--out", "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal(permissions, File.GetUnixFileMode(path));
    }

    [Fact]
    public void A_link_is_written_through_and_stays_a_link()
    {
        string target = _dir.File("target.json");
        File.WriteAllText(target, "old");
        string link = File.CreateSymbolicLink(_dir.File("link.json"), target).FullName;
        AtomicFile.WriteAllText(link, "--out", "new");
        Assert.Equal(target, new FileInfo(link).LinkTarget);
        Assert.Equal("new", File.ReadAllText(target));
        // A link to a file not written yet: the file is made where the link points.
        string dangling = File.CreateSymbolicLink(_dir.File("dangling.json"), _dir.File("later.json")).FullName;
        AtomicFile.WriteAllText(dangling, "--out", "made");
        Assert.Equal("made", File.ReadAllText(_dir.File("later.json")));
        Assert.NotNull(new FileInfo(dangling).LinkTarget);
        Assert.Equal(4, Directory.GetFileSystemEntries(_dir.Path).Length);
    }

    /// <summary>A folder given as the file is named as such before anything is written, and is left as it was.</summary>
    [Fact]
    public void A_folder_given_as_the_output_file_is_refused_saying_so_and_left_alone()
    {
        string folder = Directory.CreateDirectory(_dir.File("out.json")).FullName;
        File.WriteAllText(Path.Combine(folder, "inside"), "kept");
        var e = Assert.Throws<IOException>(() => AtomicFile.WriteAllText(folder, "--out", "new"));
        Assert.Equal($"--out '{folder}' is a folder; expected a file", e.Message);
        Assert.Equal("kept", File.ReadAllText(Path.Combine(folder, "inside")));
        Assert.Equal([folder], Directory.GetFileSystemEntries(_dir.Path));
    }

    [LinuxFact]
    public void Streams_are_devices_and_pipes_not_files_or_folders()
    {
        Assert.True(FileKind.IsStream("/dev/null"));
        Assert.True(FileKind.IsStream(File.CreateSymbolicLink(_dir.File("null"), "/dev/null").FullName));
        Assert.True(FileKind.IsStream(MakeFifo("pipe")));
        string file = _dir.File("file");
        File.WriteAllText(file, "x");
        Assert.False(FileKind.IsStream(file));
        Assert.False(FileKind.IsStream(_dir.Path));
        Assert.False(FileKind.IsStream(_dir.File("missing")));
    }

    [LinuxFact]
    public void A_named_pipe_is_written_into_and_stays_a_pipe()
    {
        string fifo = MakeFifo("pipe");
        // The reader: a named pipe's open waits for the writer, so it runs apart, and is stopped if no writer comes.
        using Process reader = Start("cat", fifo);
        Task<string> read = reader.StandardOutput.ReadToEndAsync();
        AtomicFile.WriteAllText(fifo, "--out", "through the pipe");
        bool ended = reader.WaitForExit(30_000);
        if (!ended)
        {
            reader.Kill();
        }
        Assert.True(ended, "nothing was written into the pipe");
        Assert.Equal("through the pipe", read.Result);
        Assert.True(FileKind.IsStream(fifo));
        Assert.Single(Directory.GetFileSystemEntries(_dir.Path));
    }

    private string MakeFifo(string name)
    {
        string path = _dir.File(name);
        using Process mkfifo = Start("mkfifo", path);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    private static Process Start(string program, string argument) =>
        Process.Start(new ProcessStartInfo(program, [argument]) { RedirectStandardOutput = true, UseShellExecute = false })!;

    public void Dispose() => _dir.Dispose();
}
