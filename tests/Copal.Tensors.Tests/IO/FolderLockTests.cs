using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// A folder lock excludes every other holder while it is held (flock is per open file, so a second open in this
/// process is refused as another process's is), and leaves neither its file nor a folder it made once released.
/// </summary>
public sealed class FolderLockTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    [Fact]
    public void A_held_lock_refuses_a_second_holder_until_it_is_released_and_leaves_nothing()
    {
        string folder = _dir.File(Path.Combine("made", "st"));

        FolderLock? first = FolderLock.TryAcquire(folder, ".lock");
        Assert.NotNull(first);
        Assert.True(File.Exists(Path.Combine(folder, ".lock")));
        Assert.Null(FolderLock.TryAcquire(folder, ".lock"));
        first.Dispose();

        Assert.False(Path.Exists(_dir.File("made")));
        using FolderLock? again = FolderLock.TryAcquire(folder, ".lock");
        Assert.NotNull(again);
    }

    [Fact]
    public void A_lock_file_left_behind_is_taken_over_and_deleted_and_a_folder_not_made_stays()
    {
        string folder = Directory.CreateDirectory(_dir.File("st")).FullName;
        File.WriteAllBytes(Path.Combine(folder, ".lock"), []);

        using (FolderLock? held = FolderLock.TryAcquire(folder, ".lock"))
        {
            Assert.NotNull(held);
        }

        Assert.Empty(Directory.GetFileSystemEntries(folder));
    }

    /// <summary>A lock on a folder the holder only reads (prune's --resume) never makes the folder: a missing one is said so.</summary>
    [Fact]
    public void A_lock_that_may_not_make_its_folder_leaves_a_missing_one_missing()
    {
        string folder = _dir.File(Path.Combine("absent", "st"));

        Assert.Throws<DirectoryNotFoundException>(() => FolderLock.TryAcquire(folder, ".lock", makeFolder: false));

        Assert.False(Path.Exists(_dir.File("absent")));
    }

    public void Dispose() => _dir.Dispose();
}
