using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// A run stopped at once (a second Ctrl-C or SIGTERM) lets go of every folder lock it holds, removing the empty
/// folders a writer made for its lock, before it ends. It releases every lock in the process, so it runs alone.
/// </summary>
[Collection(ProcessLocksCollection.Name)]
public sealed class FolderLockReleaseOwnTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    [LinuxFact]
    public void Release_own_lets_go_of_every_lock_and_removes_the_folders_made_for_them()
    {
        string made = _dir.File(Path.Combine("made", "st"));
        string read = Directory.CreateDirectory(_dir.File("read")).FullName;
        FolderLock? writer = FolderLock.TryAcquireToWrite(made, ".lock");
        FolderLock? reader = FolderLock.TryAcquireToRead(read);
        Assert.NotNull(writer);
        Assert.NotNull(reader);

        FolderLock.ReleaseOwn();

        Assert.False(Path.Exists(_dir.File("made")));
        using (FolderLock? replacing = FolderLock.TryAcquireToReplace(read))
        {
            Assert.NotNull(replacing);
        }
        writer.Dispose(); // already released: nothing more happens
        reader.Dispose();
    }
}

/// <summary>Tests that release every lock this process holds, with no other test class beside them (xunit runs such a collection alone).</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessLocksCollection
{
    public const string Name = "process locks, alone";
}
