using System.Text.Json;
using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// Settling a commit record (<see cref="CommitRecord"/>), as the run after a kill does: the staged files are put in place
/// where the output holds the twin of the last one, and dropped where it does not, where the record was cut short as it
/// was written, or where it names a file outside its folder. (The CLI's StateCommitTests run it through prune --state.)
/// </summary>
public sealed class CommitRecordTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    // Two files staged in "state" (finals holding "old a" and "old b"), the output's twin of the second in "out".
    private (string Record, string State, string Out, (string Staged, string Final)[] Renames) Staged(bool outputInPlace)
    {
        string state = Directory.CreateDirectory(_dir.File("state")).FullName;
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        (string, string)[] renames = [.. new[] { "a", "b" }.Select(n =>
        {
            string final = Path.Combine(state, n);
            File.WriteAllText(final, $"old {n}");
            string staged = TemporaryNames.Sibling(final, "tmp");
            File.WriteAllText(staged, $"new {n}");
            return (staged, final);
        })];
        File.WriteAllText(Path.Combine(output, "b"), outputInPlace ? "new b" : "previous output's b");
        return (CommitRecord.Write(renames, Path.Combine(output, "b")), state, output, renames);
    }

    private static string[] Names(string folder) => [.. Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    // The state folder holds the two finals and nothing else (no staged file left), with these texts.
    private static void AssertFinals(string state, string a, string b)
    {
        Assert.Equal(["a", "b"], Names(state));
        Assert.Equal(a, File.ReadAllText(Path.Combine(state, "a")));
        Assert.Equal(b, File.ReadAllText(Path.Combine(state, "b")));
    }

    // Rewrites the record as a run on another machine wrote it: the output named by that machine's path to it.
    private void NameOutputAsAnotherMachine(string record, string output)
    {
        string elsewhere = Path.Combine(_dir.File("another-machines-mount"), "out", "b");
        File.WriteAllText(record, File.ReadAllText(record).Replace(
            JsonEncodedText.Encode(Path.Combine(output, "b")).ToString(), JsonEncodedText.Encode(elsewhere).ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public void Where_the_output_holds_the_twin_the_renames_are_finished()
    {
        (string record, string state, string output, _) = Staged(outputInPlace: true);
        Assert.StartsWith(".b.commit-" + TemporaryNames.Owner + "-", Path.GetFileName(record), StringComparison.Ordinal);

        var (outcome, named, finished, _) = CommitRecord.Settle(record);

        Assert.Equal(CommitRecord.Outcome.Finished, outcome);
        Assert.Equal(Path.Combine(output, "b"), named);
        Assert.Equal(["a", "b"], finished);
        AssertFinals(state, "new a", "new b");
    }

    [Fact]
    public void A_kill_between_the_renames_is_finished_from_where_it_stopped()
    {
        (string record, string state, _, (string Staged, string Final)[] renames) = Staged(outputInPlace: true);
        File.Move(renames[0].Staged, renames[0].Final, overwrite: true);

        Assert.Equal(CommitRecord.Outcome.Finished, CommitRecord.Settle(record).Outcome);

        AssertFinals(state, "new a", "new b");
    }

    /// <summary>
    /// Once a rename was done the output had been put in place, whatever it holds now: a later run may have written
    /// over it (with --force and no --state, so this record stayed) before a run looked in the record's folder.
    /// Dropping the rest then would leave the new first file beside the old last one, a pair that cannot be loaded.
    /// </summary>
    [Fact]
    public void A_kill_between_the_renames_is_finished_even_where_the_output_was_written_over_since()
    {
        (string record, string state, string output, (string Staged, string Final)[] renames) = Staged(outputInPlace: true);
        File.Move(renames[0].Staged, renames[0].Final, overwrite: true);
        File.WriteAllText(Path.Combine(output, "b"), "a later output's b");

        Assert.Equal(CommitRecord.Outcome.Finished, CommitRecord.Settle(record).Outcome);

        AssertFinals(state, "new a", "new b");
    }

    /// <summary>
    /// A record left in a shared folder by a run on another machine names the output by that machine's path, which may
    /// not be this machine's path to it (the share mounted elsewhere): the output is also looked for by its path from
    /// the record's folder, and the copy finished where it holds the twin there.
    /// </summary>
    [Fact]
    public void A_record_whose_output_path_is_another_machines_finds_the_output_from_its_folder()
    {
        (string record, string state, string output, _) = Staged(outputInPlace: true);
        NameOutputAsAnotherMachine(record, output);
        Assert.Contains("another-machines-mount", File.ReadAllText(record), StringComparison.Ordinal);

        Assert.Equal(CommitRecord.Outcome.Finished, CommitRecord.Settle(record).Outcome);

        AssertFinals(state, "new a", "new b");
    }

    /// <summary>
    /// The same through a --state that is a symbolic link to a folder elsewhere: the next run finds the record by the
    /// folder's real path, so the output's path from the folder is taken from there too.
    /// </summary>
    [Fact]
    public void A_record_in_a_linked_folder_finds_the_output_from_the_folders_real_path()
    {
        string real = Directory.CreateDirectory(Path.Combine(_dir.File("deep"), "real-state")).FullName;
        string linked = _dir.File("state");
        Directory.CreateSymbolicLink(linked, real);
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        File.WriteAllText(Path.Combine(output, "b"), "new b");
        string final = Path.Combine(linked, "b");
        string staged = TemporaryNames.Sibling(final, "tmp");
        File.WriteAllText(staged, "new b");
        string record = CommitRecord.Write([(staged, final)], Path.Combine(output, "b"));
        NameOutputAsAnotherMachine(record, output);

        Assert.Equal(CommitRecord.Outcome.Finished, CommitRecord.Settle(Path.Combine(real, Path.GetFileName(record))).Outcome);

        Assert.Equal(["b"], Names(real));
        Assert.Equal("new b", File.ReadAllText(Path.Combine(real, "b")));
    }

    [Fact]
    public void Where_the_output_does_not_hold_the_twin_the_staged_files_are_dropped()
    {
        (string record, string state, _, _) = Staged(outputInPlace: false);

        Assert.Equal(CommitRecord.Outcome.Dropped, CommitRecord.Settle(record).Outcome);

        AssertFinals(state, "old a", "old b");
    }

    [Fact]
    public void Once_the_twin_is_in_place_only_the_record_is_left_to_delete()
    {
        (string record, string state, _, (string Staged, string Final)[] renames) = Staged(outputInPlace: true);
        foreach ((string staged, string final) in renames)
        {
            File.Move(staged, final, overwrite: true);
        }

        Assert.Equal(CommitRecord.Outcome.Nothing, CommitRecord.Settle(record).Outcome);

        Assert.Equal(["a", "b"], Names(state));
        Assert.Equal("new b", File.ReadAllText(Path.Combine(state, "b")));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(0)]
    public void A_record_cut_short_as_it_was_written_puts_nothing_in_place(int keep)
    {
        (string record, string state, _, _) = Staged(outputInPlace: true);
        File.WriteAllBytes(record, File.ReadAllBytes(record)[..keep]);

        Assert.Equal(CommitRecord.Outcome.Dropped, CommitRecord.Settle(record).Outcome);

        // The staged files stay for the sweep that follows, which removes them as stale; the finals are untouched.
        Assert.Equal("old a", File.ReadAllText(Path.Combine(state, "a")));
        Assert.Equal("old b", File.ReadAllText(Path.Combine(state, "b")));
        Assert.False(File.Exists(record));
    }

    [Fact]
    public void A_record_that_names_a_file_outside_its_folder_moves_nothing()
    {
        (string record, string state, string output, _) = Staged(outputInPlace: true);
        File.WriteAllText(Path.Combine(state, "c"), "new b");
        File.WriteAllText(record, $$"""{"output": "{{Path.Combine(output, "b").Replace("\\", "\\\\", StringComparison.Ordinal)}}", "renames": [["c", "../out/x"]]}""");

        Assert.Equal(CommitRecord.Outcome.Dropped, CommitRecord.Settle(record).Outcome);

        Assert.Equal(["b"], Names(output));
        Assert.Equal("old b", File.ReadAllText(Path.Combine(state, "b")));
    }

    // A record the system refuses to read (EIO on a network mount, a mode the run may not read) says nothing of how it
    // was written: it stays, with its staged files, for a run that can read it, rather than be taken as cut short and
    // its commit dropped with the output maybe in place. Here a folder stands where the record is, which no read opens.
    [Fact]
    public void A_record_that_cannot_be_read_is_left_with_its_staged_files()
    {
        (string record, string state, _, (string Staged, string Final)[] renames) = Staged(outputInPlace: true);
        File.Delete(record);
        Directory.CreateDirectory(record);

        var (outcome, _, finished, problem) = CommitRecord.Settle(record);

        Assert.Equal(CommitRecord.Outcome.Left, outcome);
        Assert.Empty(finished);
        Assert.False(string.IsNullOrEmpty(problem));
        Assert.True(Directory.Exists(record));
        Assert.All(renames, r => Assert.True(File.Exists(r.Staged)));
        Assert.Equal("old b", File.ReadAllText(Path.Combine(state, "b")));
    }
}
