using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// The edges of the output and input locks that round 11 of mutation testing found untested: a refused run lets go of
/// every lock it took, the folders in an output are locked in name order up to the first --force does not replace
/// (whatever their lengths), a link in the output locks nothing outside it, a state folder another run writes refuses
/// the replacement as in use (its staged files are not judged), and a state folder reached through a link is not
/// replaced. flock is per open file, so a lock in this process meets another of this process's as another run's would.
/// </summary>
public sealed class OutputFolderLockEdgeTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    // A model folder holding `config.json`, and a COPAL state folder in it for each name given.
    private string Model(string name, params string[] states)
    {
        string folder = Directory.CreateDirectory(_dir.File(name)).FullName;
        File.WriteAllText(Path.Combine(folder, "config.json"), "old");
        foreach (string state in states)
        {
            string path = Directory.CreateDirectory(Path.Combine(folder, state)).FullName;
            File.WriteAllText(Path.Combine(path, "copal-state.json"), "{}");
            File.WriteAllText(Path.Combine(path, "copal-state.safetensors"), "x");
        }
        return folder;
    }

    /// <summary>
    /// The output is locked before its state folder, which a reader holds: the refusal lets go of the output's lock,
    /// and once the reader ends the replacement proceeds.
    /// </summary>
    [LinuxFact]
    public void A_replacement_refused_for_a_folder_in_the_output_keeps_no_lock_on_the_output()
    {
        string output = Model("out", "st");
        FolderLock? reader = FolderLock.TryAcquireToRead(Path.Combine(output, "st"));
        Assert.NotNull(reader);

        Assert.Throws<IOException>(() => OutputFolderLock.Acquire("--out", output, output));

        using (FolderLock? other = FolderLock.TryAcquireToRead(output))
        {
            Assert.NotNull(other);
        }
        reader.Dispose();
        using AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true);
    }

    /// <summary>An output refused as no copal output (it holds a folder of notes) keeps neither its own lock nor the inputs'.</summary>
    [LinuxFact]
    public void An_output_refused_as_not_replaceable_keeps_no_lock_on_it_or_on_the_inputs()
    {
        string input = Model("in");
        string output = Model("out");
        Directory.CreateDirectory(Path.Combine(output, "notes"));

        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true, input));

        Assert.StartsWith($"--out '{output}' holds the folder 'notes'", e.Message, StringComparison.Ordinal);
        using (FolderLock? other = FolderLock.TryAcquireToWrite(output, ".lock"))
        {
            Assert.NotNull(other);
        }
        using FolderLock? replacing = FolderLock.TryAcquireToReplace(input);
        Assert.NotNull(replacing);
    }

    /// <summary>
    /// "a" (a person's folder) comes first in name order, so the state folder after it is not locked, though its
    /// longer name would come first by length: the order is the names', whatever they are.
    /// </summary>
    [LinuxFact]
    public void Only_the_folders_before_the_first_that_force_refuses_in_name_order_are_locked()
    {
        string output = Model("out", "b-a-long-state-folder-name");
        Directory.CreateDirectory(Path.Combine(output, "a"));

        using OutputFolderLock held = OutputFolderLock.Acquire("--out", output, output);

        Assert.Null(FolderLock.TryAcquireToRead(Path.Combine(output, "a")));
        using FolderLock? state = FolderLock.TryAcquireToRead(Path.Combine(output, "b-a-long-state-folder-name"));
        Assert.NotNull(state);
    }

    /// <summary>
    /// A link in the output to a folder elsewhere (a model another run reads): --force never deletes what it points
    /// to, so that folder is not locked, and a run reading it is not held up.
    /// </summary>
    [LinuxFact]
    public void A_link_in_the_output_locks_nothing_outside_it()
    {
        string elsewhere = Model("elsewhere");
        string output = Model("out");
        Directory.CreateSymbolicLink(Path.Combine(output, "linked"), elsewhere);

        using OutputFolderLock held = OutputFolderLock.Acquire("--out", output, output);

        Assert.Null(FolderLock.TryAcquireToRead(output));
        using FolderLock? reader = FolderLock.TryAcquireToRead(elsewhere);
        Assert.NotNull(reader);
    }

    /// <summary>
    /// A state folder that another run is writing holds that run's staged file, which would make it no state folder
    /// to --force: the output is locked before it is judged, so the refusal says the folder is in use, not that it
    /// looks like no output of copal's (which would tell the person to empty it).
    /// </summary>
    [LinuxFact]
    public void A_state_folder_being_written_refuses_the_replacement_as_in_use()
    {
        string output = Model("out", "st");
        string state = Path.Combine(output, "st");
        using FolderLock? writer = FolderLock.TryAcquireToWrite(state, ".lock");
        Assert.NotNull(writer);
        File.WriteAllText(Path.Combine(state, ".copal-state.json.staged"), "{");

        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true));

        Assert.StartsWith($"--out '{output}': its folder 'st' is in use by another copal run", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A state folder reached through a link (`--state out/st` made a link there) is not one --force replaces.</summary>
    [LinuxFact]
    public void A_state_folder_through_a_link_is_not_replaced()
    {
        string states = Model("states", "st");
        string output = Model("out");
        Directory.CreateSymbolicLink(Path.Combine(output, "st"), Path.Combine(states, "st"));

        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true));

        Assert.StartsWith($"--out '{output}' holds the folder 'st'", e.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(states, "st", "copal-state.json")));
    }

    /// <summary>A lock to replace a folder is taken only on one that exists: nothing is made for it.</summary>
    [LinuxFact]
    public void A_lock_to_replace_a_missing_folder_makes_nothing()
    {
        string missing = _dir.File("gone");

        Assert.Throws<DirectoryNotFoundException>(() => FolderLock.TryAcquireToReplace(missing));

        Assert.False(Path.Exists(missing));
    }
}
