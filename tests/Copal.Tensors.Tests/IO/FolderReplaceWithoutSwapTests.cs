using System.Diagnostics;
using System.Globalization;
using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// Where folders cannot be swapped in one step (Windows, macOS, NFS and most FUSE mounts: no RENAME_EXCHANGE), --force
/// replaces an output by two renames: the old folder aside as "old", the new one into its name, the old one deleted.
/// <see cref="FolderSwap.Unavailable"/> takes that path on Linux too, so what every Windows and macOS run does is
/// tested here: the replacement, the old folder put back when the new one may not or cannot take its place, and a
/// run killed between the renames, after which the next run puts the old folder back.
/// </summary>
public sealed class FolderReplaceWithoutSwapTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    private string[] Entries(string folder) => [.. Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    // An output holding config.json "old", and a finished folder beside it named as a run names one, holding "new".
    private (string Output, string Finished) OldAndNew()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        File.WriteAllText(Path.Combine(output, "config.json"), "old");
        string finished = Directory.CreateDirectory(TemporaryNames.Sibling(output, "tmp")).FullName;
        File.WriteAllText(Path.Combine(finished, "config.json"), "new");
        return (output, finished);
    }

    [Fact]
    public void Force_replaces_an_output_by_moving_the_old_one_aside_and_deleting_it_once_the_new_one_is_in()
    {
        (string output, string finished) = OldAndNew();
        using IDisposable twoRenames = FolderSwap.Unavailable();
        string? asideSeen = null;
        AtomicDirectory.ReplaceFolder(finished, output, "old", aside =>
        {
            // Between the renames: the old output aside under a name the next run recognizes, nothing at its name.
            asideSeen = aside;
            Assert.Equal(Path.Combine(_dir.Path, ".out.old-" + TemporaryNames.Owner + "-"), aside[..^aside.Split('-')[^1].Length]);
            Assert.Equal("old", File.ReadAllText(Path.Combine(aside, "config.json")));
            Assert.False(Path.Exists(output));
        });
        Assert.NotNull(asideSeen);
        Assert.Equal("new", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal(["out"], Entries(_dir.Path));
    }

    [Fact]
    public void Commit_with_force_replaces_the_output_and_leaves_nothing_beside_it()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        File.WriteAllText(Path.Combine(output, "config.json"), "old");
        using IDisposable twoRenames = FolderSwap.Unavailable();
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true))
        {
            File.WriteAllText(dir.File("config.json"), "new");
            dir.Commit();
        }
        Assert.Equal("new", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal(["out"], Entries(_dir.Path));
    }

    [Fact]
    public void An_old_folder_that_may_not_be_replaced_is_put_back()
    {
        (string output, string finished) = OldAndNew();
        using IDisposable twoRenames = FolderSwap.Unavailable();
        Assert.Throws<IOException>(() => AtomicDirectory.ReplaceFolder(finished, output, "old", _ => throw new IOException("refused")));
        Assert.Equal("old", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal("new", File.ReadAllText(Path.Combine(finished, "config.json")));
        Assert.Equal([Path.GetFileName(finished), "out"], Entries(_dir.Path));
    }

    [Fact]
    public void An_old_folder_whose_replacement_cannot_be_moved_in_is_put_back()
    {
        (string output, string finished) = OldAndNew();
        using IDisposable twoRenames = FolderSwap.Unavailable();
        // The new folder gone when it is moved in: the move fails after the old one went aside.
        Assert.Throws<DirectoryNotFoundException>(() => AtomicDirectory.ReplaceFolder(finished, output, "old", _ => Directory.Delete(finished, recursive: true)));
        Assert.Equal("old", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal(["out"], Entries(_dir.Path));
    }

    /// <summary>
    /// A run killed (SIGKILL, a power cut, a closed console on Windows) between the renames leaves the old output
    /// aside and the new one unfinished, under the names this run gave them: once their owner is gone, the next run
    /// writing there puts the old one back and removes the other. Simulated by giving both names a dead owner.
    /// </summary>
    [LinuxFact]
    public void An_old_folder_left_aside_by_a_killed_run_is_put_back_by_the_next()
    {
        (string output, string finished) = OldAndNew();
        string dead;
        using (Process done = Process.Start("true"))
        {
            done.WaitForExit();
            dead = $"{done.Id.ToString(CultureInfo.InvariantCulture)}-12345-{TemporaryNames.Owner.Split('-')[2]}";
        }
        using IDisposable twoRenames = FolderSwap.Unavailable();
        Assert.ThrowsAny<IOException>(() => AtomicDirectory.ReplaceFolder(finished, output, "old", aside =>
        {
            // Where the kill lands: both names as they are, their owner gone.
            Directory.Move(aside, aside.Replace(TemporaryNames.Owner, dead, StringComparison.Ordinal));
            Directory.Move(finished, finished.Replace(TemporaryNames.Owner, dead, StringComparison.Ordinal));
            throw new IOException("killed");
        }));
        Assert.False(Path.Exists(output));

        Assert.Equal(["out"], TemporaryNames.RestoreStale(_dir.Path));
        Assert.Single(TemporaryNames.RemoveStale(_dir.Path));
        Assert.Equal("old", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal(["out"], Entries(_dir.Path));
    }
}
