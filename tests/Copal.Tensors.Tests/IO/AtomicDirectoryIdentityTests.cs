using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// The folder at the output's path when the run commits must be the one it judged replaceable when it started (its
/// device and inode), not only look like one: a person who moves their own model to that path while the run works
/// (the old output moved aside first) would otherwise lose it to the rename, however much it looks like an output.
/// </summary>
public sealed class AtomicDirectoryIdentityTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-identity-");

    public void Dispose() => _dir.Dispose();

    private string[] Entries(string folder) => [.. Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    private string Model(string name, string config)
    {
        string folder = Directory.CreateDirectory(_dir.File(name)).FullName;
        File.WriteAllText(Path.Combine(folder, "config.json"), config);
        return folder;
    }

    [LinuxFact]
    public void A_model_folder_swapped_in_at_the_output_during_the_run_is_not_replaced()
    {
        string output = Model("out", "old");
        string mine = Model("mine", "my model");
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true))
        {
            File.WriteAllText(dir.File("config.json"), "new");
            // While the run works, the person moves the old output aside and their own model to its name.
            Directory.Move(output, _dir.File("old-out"));
            Directory.Move(mine, output);
            var e = Assert.Throws<IOException>(dir.Commit);
            FileIdentity then = FileIdentity.Of(_dir.File("old-out"))!.Value, now = FileIdentity.Of(output)!.Value;
            Assert.Equal($"--out '{dir.FinalPath}' now names another folder than the one this run judged it could replace when it started "
                + $"(device:inode {then.Device}:{then.Inode} then, {now.Device}:{now.Inode} now: moved or replaced while this run wrote); nothing was replaced "
                + "and this run's output was deleted: run again to replace the folder there now, or choose another folder", e.Message);
        }
        Assert.Equal(["config.json"], Entries(output));
        Assert.Equal("my model", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal("old", File.ReadAllText(Path.Combine(_dir.File("old-out"), "config.json")));
        Assert.Equal(["old-out", "out"], Entries(_dir.Path)); // the temporary folder is gone, and nothing was left aside
    }

    /// <summary>
    /// prune locks its output before calibrating and claims it after: the folder judged is the one there at the lock,
    /// not one swapped in during the calibration.
    /// </summary>
    [LinuxFact]
    public void A_model_folder_swapped_in_before_the_output_is_claimed_is_not_replaced()
    {
        string output = Model("out", "old");
        string mine = Model("mine", "my model");
        using (OutputFolderLock.Acquire("--out", output, output))
        {
            Directory.Move(output, _dir.File("old-out"));
            Directory.Move(mine, output);
            using AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true);
            File.WriteAllText(dir.File("config.json"), "new");
            var e = Assert.Throws<IOException>(dir.Commit);
            Assert.StartsWith($"--out '{dir.FinalPath}' now names another folder than the one this run judged it could replace when it started", e.Message, StringComparison.Ordinal);
        }
        Assert.Equal("my model", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal(["old-out", "out"], Entries(_dir.Path));
    }

    /// <summary>As above, where there was no folder when the output was locked, and one that looks like an output is made there.</summary>
    [Fact]
    public void A_model_folder_made_before_the_output_is_claimed_is_not_replaced()
    {
        string output = _dir.File("out");
        using (OutputFolderLock.Acquire("--out", output, output))
        {
            Model("out", "my model");
            var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true));
            Assert.Equal($"--out '{output}' was created by something else (another run?) while this run wrote it; nothing was replaced: run again to replace it", e.Message);
        }
        Assert.Equal("my model", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal(["out"], Entries(_dir.Path));
    }

    [LinuxFact]
    public void The_folder_it_judged_is_still_replaced_when_it_is_what_the_path_names()
    {
        string output = Model("out", "old");
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true))
        {
            File.WriteAllText(dir.File("config.json"), "new");
            dir.Commit();
        }
        Assert.Equal("new", File.ReadAllText(Path.Combine(output, "config.json")));
    }
}
