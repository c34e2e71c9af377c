using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// A folder lock: a writer excludes every other holder, readers share it (flock is per open file, so a second lock in
/// this process meets the first as another process's would), nothing is written in the folder, and a writer leaves no
/// folder it made once released. Run on Linux, where a folder's identity is read (macOS locks alike; a Windows reader takes no lock).
/// </summary>
public sealed class FolderLockTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    [LinuxFact]
    public void A_writer_excludes_writers_and_readers_until_released_and_removes_the_folder_it_made()
    {
        string folder = _dir.File(Path.Combine("made", "st"));

        FolderLock? writer = FolderLock.TryAcquireToWrite(folder, ".lock");
        Assert.NotNull(writer);
        Assert.Empty(Directory.GetFileSystemEntries(folder));
        Assert.Null(FolderLock.TryAcquireToWrite(folder, ".lock"));
        Assert.Null(FolderLock.TryAcquireToRead(folder));
        writer.Dispose();

        Assert.False(Path.Exists(_dir.File("made")));
        using FolderLock? again = FolderLock.TryAcquireToWrite(folder, ".lock");
        Assert.NotNull(again);
    }

    [LinuxFact]
    public void Readers_share_the_lock_exclude_a_writer_and_leave_the_folder_as_it_was()
    {
        string folder = Directory.CreateDirectory(_dir.File("st")).FullName;
        File.WriteAllText(Path.Combine(folder, "kept"), "x");
        DateTime modified = Directory.GetLastWriteTimeUtc(folder);

        using (FolderLock? first = FolderLock.TryAcquireToRead(folder))
        using (FolderLock? second = FolderLock.TryAcquireToRead(folder))
        {
            Assert.NotNull(first);
            Assert.NotNull(second);
            Assert.Null(FolderLock.TryAcquireToWrite(folder, ".lock"));
        }

        Assert.Equal(["kept"], Directory.GetFileSystemEntries(folder).Select(Path.GetFileName));
        Assert.Equal(modified, Directory.GetLastWriteTimeUtc(folder));
        using FolderLock? writer = FolderLock.TryAcquireToWrite(folder, ".lock");
        Assert.NotNull(writer);
    }

    /// <summary>A reader made a writer to settle what a killed run left excludes other readers, and shares again once made a reader.</summary>
    [LinuxFact]
    public void A_reader_converted_to_a_writer_excludes_readers_until_converted_back()
    {
        string folder = Directory.CreateDirectory(_dir.File("st")).FullName;
        using FolderLock? reader = FolderLock.TryAcquireToRead(folder);
        Assert.NotNull(reader);

        Assert.True(reader.TryConvert(exclusive: true));
        Assert.Null(FolderLock.TryAcquireToRead(folder));
        Assert.True(reader.TryConvert(exclusive: false));
        using FolderLock? other = FolderLock.TryAcquireToRead(folder);
        Assert.NotNull(other);
        Assert.False(reader.TryConvert(exclusive: true));
    }

    /// <summary>
    /// A folder swapped out by a rename between being opened and being locked (as --out's replacement swaps a folder): the
    /// lock on it would not count for the folder at the path, so the one there now is locked instead, and the old one is
    /// left unlocked.
    /// </summary>
    [LinuxFact]
    public void A_folder_replaced_as_it_is_locked_is_let_go_and_the_new_one_locked()
    {
        string folder = Directory.CreateDirectory(_dir.File("st")).FullName;
        string swapped = _dir.File("st.old");
        int opened = 0;
        void Swap(string path)
        {
            if (path == folder && Interlocked.Increment(ref opened) == 1)
            {
                Directory.Move(folder, swapped);
                Directory.CreateDirectory(folder);
            }
        }
        FolderLock.Opened += Swap;
        FolderLock? held;
        try
        {
            held = FolderLock.TryAcquireToWrite(folder, ".lock");
        }
        finally
        {
            FolderLock.Opened -= Swap;
        }

        using (held)
        {
            Assert.NotNull(held);
            Assert.Equal(2, opened);
            Assert.Null(FolderLock.TryAcquireToRead(folder));
            using FolderLock? old = FolderLock.TryAcquireToWrite(swapped, ".lock");
            Assert.NotNull(old);
        }
    }

    /// <summary>A lock on a folder the holder only reads (prune's --resume) never makes the folder: a missing one is said so.</summary>
    [LinuxFact]
    public void A_reader_leaves_a_missing_folder_missing()
    {
        string folder = _dir.File(Path.Combine("absent", "st"));

        Assert.Throws<DirectoryNotFoundException>(() => FolderLock.TryAcquireToRead(folder));

        Assert.False(Path.Exists(_dir.File("absent")));
    }

    public void Dispose() => _dir.Dispose();
}
