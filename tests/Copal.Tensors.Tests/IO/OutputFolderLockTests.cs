using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// An output folder that a run will replace is locked, with each folder in it, exclusively: a run reading a COPAL state
/// there (--resume, a shared lock) or writing one (--state, exclusive) refuses the replacement, and is refused while
/// the replacing run holds it. flock is per open file, so a lock in this process meets another of this process's as
/// another run's would. Linux only (macOS locks alike; Windows takes no such lock).
/// </summary>
public sealed class OutputFolderLockTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    private string[] Entries(string folder) => [.. Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    // A pruned model's folder, as `prune --state out/st` writes it.
    private string Output()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        File.WriteAllText(Path.Combine(output, "config.json"), "old");
        string state = Directory.CreateDirectory(Path.Combine(output, "st")).FullName;
        File.WriteAllText(Path.Combine(state, "copal-state.json"), "{}");
        File.WriteAllText(Path.Combine(state, "copal-state.safetensors"), "x");
        return output;
    }

    private static string InUse(string output, string? inner) =>
        $"--out '{output}'{(inner is null ? "" : $": its folder '{inner}'")} is in use by another copal run, which reads a model or a state there, or writes a state there "
        + "(its lock on the folder ends with it); run again once that run has ended, or choose another folder";

    [LinuxTheory]
    [InlineData(null)]
    [InlineData("st")]
    public void Force_over_a_folder_that_a_reader_holds_is_refused_and_leaves_it(string? held)
    {
        string output = Output();
        using FolderLock? reader = FolderLock.TryAcquireToRead(held is null ? output : Path.Combine(output, held));
        Assert.NotNull(reader);

        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true));

        Assert.Equal(InUse(output, held), e.Message);
        Assert.Equal(["config.json", "st"], Entries(output));
        Assert.Equal(["out"], Entries(_dir.Path)); // no temporary folder
    }

    [LinuxFact]
    public void While_an_output_is_being_replaced_no_run_may_read_or_write_a_state_in_it()
    {
        string output = Output();
        string state = Path.Combine(output, "st");
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true))
        {
            Assert.Null(FolderLock.TryAcquireToRead(output));
            Assert.Null(FolderLock.TryAcquireToRead(state));
            Assert.Null(FolderLock.TryAcquireToWrite(state, ".lock"));
        }

        using FolderLock? after = FolderLock.TryAcquireToRead(state);
        Assert.NotNull(after);
    }

    /// <summary>
    /// An output absent when the run started, and at its commit a folder that another run made to hold its --state lock.
    /// The rename was refused, but said the folder was made by something else and to run again (with --force, which
    /// would have replaced the other run's folder under it); it now says that run holds it.
    /// </summary>
    [LinuxFact]
    public void A_folder_made_and_locked_by_another_run_during_the_run_is_not_taken_over()
    {
        string output = _dir.File("out");
        using AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: false);
        File.WriteAllText(dir.File("config.json"), "new");
        using FolderLock? other = FolderLock.TryAcquireToWrite(output, ".lock");
        Assert.NotNull(other);

        var e = Assert.Throws<IOException>(dir.Commit);

        Assert.Equal(InUse(output, null), e.Message);
        Assert.Empty(Entries(output));
    }

    /// <summary>A command checks its output before its work and claims it later: the two share one lock, held until both let go.</summary>
    [LinuxFact]
    public void Holders_in_one_process_share_the_lock_until_the_last_lets_go()
    {
        string output = Output();
        OutputFolderLock first = OutputFolderLock.Acquire("--out", output, output);
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true))
        {
            Assert.Null(FolderLock.TryAcquireToRead(output));
        }
        Assert.Null(FolderLock.TryAcquireToRead(output));
        first.Dispose();

        using FolderLock? after = FolderLock.TryAcquireToRead(output);
        Assert.NotNull(after);
    }

    /// <summary>
    /// The input folder a run reads while it writes (a compact copies its input's files after a pass over the weights)
    /// is locked shared: a run replacing it is refused, and a run is refused an input being replaced.
    /// </summary>
    [LinuxFact]
    public void An_input_being_read_is_not_replaced_and_one_being_replaced_is_not_read()
    {
        string input = Output();
        string output = _dir.File("compact");
        using (AtomicDirectory reading = AtomicDirectory.Create(output, overwrite: false, input))
        {
            var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(input, overwrite: true));
            Assert.Equal(InUse(input, null), e.Message);
        }

        using (AtomicDirectory replacing = AtomicDirectory.Create(input, overwrite: true))
        {
            var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: false, input));
            Assert.Equal($"the input folder '{input}' is in use by another copal run, which replaces it (--force) or writes a state there "
                + "(its lock on the folder ends with it); run again once that run has ended", e.Message);
        }
        Assert.Equal(["config.json", "st"], Entries(input));
        Assert.Equal(["out"], Entries(_dir.Path));
    }

    /// <summary>
    /// A state folder made in the output while the run works (another run's `--state out/st2`, its --out elsewhere),
    /// whose run has renamed its finished state in and still holds its lock: the rename onto the output locks it
    /// first. The commit's lock was shared with the one taken when the run started, which knew only the folders there
    /// then: the replacement deleted the other run's state under it.
    /// </summary>
    [LinuxFact]
    public void A_state_folder_made_in_the_output_during_the_run_is_locked_before_the_replacement()
    {
        string output = Output();
        using AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true);
        File.WriteAllText(dir.File("config.json"), "new");
        string state = Path.Combine(output, "st2");
        using FolderLock? other = FolderLock.TryAcquireToWrite(state, ".lock");
        Assert.NotNull(other);
        File.WriteAllText(Path.Combine(state, "copal-state.json"), "{}");
        File.WriteAllText(Path.Combine(state, "copal-state.safetensors"), "x");

        var e = Assert.Throws<IOException>(dir.Commit);

        Assert.Equal(InUse(output, "st2"), e.Message);
        Assert.Equal(["copal-state.json", "copal-state.safetensors"], Entries(state));
        Assert.Equal("old", File.ReadAllText(Path.Combine(output, "config.json")));
    }

    /// <summary>
    /// An output holding a folder that --force does not replace (neither a state's nor the chat templates') is refused
    /// whatever else it holds: the folders after it (in ordinal order) are not opened for a lock. Each took a
    /// descriptor: a folder of 25,000 subfolders, past this machine's 20,000, ended `-o 'Big'` with "Too many open
    /// files", --force or not, before the one line that says why it is refused.
    /// </summary>
    [LinuxFact]
    public void Folders_after_one_that_force_refuses_are_not_locked()
    {
        string output = Output();
        for (int i = 0; i < 50; i++)
        {
            Directory.CreateDirectory(Path.Combine(output, $"notes{i:D2}"));
        }
        using OutputFolderLock held = OutputFolderLock.Acquire("--out", output, output);

        Assert.Null(FolderLock.TryAcquireToRead(output));
        Assert.Null(FolderLock.TryAcquireToRead(Path.Combine(output, "notes00")));
        using FolderLock? later = FolderLock.TryAcquireToRead(Path.Combine(output, "notes49"));
        Assert.NotNull(later);
        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true));
        Assert.StartsWith($"--out '{output}' holds the folder 'notes", e.Message, StringComparison.Ordinal);
    }
}
