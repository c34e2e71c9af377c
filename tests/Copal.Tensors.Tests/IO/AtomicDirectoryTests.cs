using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>
/// What an output folder holds when the run commits, not only when it started, decides whether it may be replaced:
/// a run takes minutes to hours, and a person or another run may put files there meanwhile.
/// </summary>
public sealed class AtomicDirectoryTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    public void Dispose() => _dir.Dispose();

    private string[] Entries(string folder) => [.. Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal)!];

    [Fact]
    public void A_folder_empty_at_the_start_and_filled_during_the_run_is_not_replaced_without_force()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: false))
        {
            File.WriteAllText(dir.File("config.json"), "new");
            File.WriteAllText(Path.Combine(output, "notes.txt"), "mine"); // written while the run works
            var e = Assert.Throws<IOException>(dir.Commit);
            Assert.Equal($"--out '{dir.FinalPath}' was empty when this run started and now holds 'notes.txt'; nothing was replaced: "
                + "run again, with --force to replace it, or choose another folder", e.Message);
        }
        Assert.Equal(["notes.txt"], Entries(output));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "notes.txt")));
        Assert.Equal(["out"], Entries(_dir.Path)); // the temporary folder and the one moved aside are gone
    }

    /// <summary>
    /// A copy that fails names the output as its other messages do (continual's intermediate model: "in --temp"),
    /// where it said "the output" and the hidden working folder's path.
    /// </summary>
    [Fact]
    public void A_copy_that_fails_names_the_output_by_its_name()
    {
        string source = _dir.File("tokenizer.json");
        File.WriteAllText(source, "{}");
        string output = _dir.File("model-1");
        using AtomicDirectory dir = AtomicDirectory.CreateNamed("the intermediate model (in --temp)", output, overwrite: false);
        dir.CopyIn(source, "tokenizer.json");
        var e = Assert.Throws<IOException>(() => dir.CopyIn(source, "tokenizer.json")); // the name is taken: File.Copy refuses
        Assert.StartsWith($"the intermediate model (in --temp) '{output}': cannot copy '{source}' into it: ", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Messages name the output as it was given (a relative `-o out/m`), as the checks before the work do: the
    /// resolved path is where it is written, not how a person knows it.
    /// </summary>
    [Fact]
    public void Messages_name_the_output_as_it_was_given()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        string given = Path.GetRelativePath(Directory.GetCurrentDirectory(), output);
        Assert.False(Path.IsPathRooted(given));
        using (AtomicDirectory dir = AtomicDirectory.Create(given, overwrite: false))
        {
            var space = Assert.Throws<IOException>(() => dir.RequireSpace(long.MaxValue, "the model"));
            Assert.StartsWith($"--out '{given}': the model takes 8.00 EiB", space.Message, StringComparison.Ordinal);

            File.WriteAllText(Path.Combine(output, "notes.txt"), "mine");
            var commit = Assert.Throws<IOException>(dir.Commit);
            Assert.StartsWith($"--out '{given}' was empty when this run started and now holds 'notes.txt'", commit.Message, StringComparison.Ordinal);
        }
        Assert.Equal(["out"], Entries(_dir.Path));
    }

    [Fact]
    public void A_folder_still_empty_at_commit_is_replaced_without_force()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: false))
        {
            File.WriteAllText(dir.File("config.json"), "new");
            dir.Commit();
        }
        Assert.Equal(["config.json"], Entries(output));
        Assert.Equal(["out"], Entries(_dir.Path));
    }

    [Fact]
    public void Force_does_not_replace_a_model_folder_that_gained_a_subfolder_during_the_run()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        File.WriteAllText(Path.Combine(output, "config.json"), "old");
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true))
        {
            File.WriteAllText(dir.File("config.json"), "new");
            Directory.CreateDirectory(Path.Combine(output, "photos"));
            var e = Assert.Throws<IOException>(dir.Commit);
            Assert.StartsWith($"--out '{dir.FinalPath}' now holds the folder 'photos' (added while this run wrote)", e.Message, StringComparison.Ordinal);
        }
        Assert.Equal(["config.json", "photos"], Entries(output));
        Assert.Equal("old", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal(["out"], Entries(_dir.Path));

        // A model folder that only changed its files is still an output copal wrote: --force replaces it.
        Directory.Delete(Path.Combine(output, "photos"));
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true))
        {
            File.WriteAllText(dir.File("config.json"), "new");
            File.WriteAllText(Path.Combine(output, "model.safetensors"), "another run's");
            dir.Commit();
        }
        Assert.Equal(["config.json"], Entries(output));
        Assert.Equal("new", File.ReadAllText(Path.Combine(output, "config.json")));
    }

    [Fact]
    public void A_text_that_cannot_be_written_names_the_output_and_the_file_not_the_temporary_folder()
    {
        string output = _dir.File("out");
        using AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: false);
        Directory.CreateDirectory(dir.File("report.json")); // a folder where the file goes: the write fails
        var e = Assert.Throws<IOException>(() => dir.WriteText("report.json", "{}"));
        Assert.Equal($"--out '{dir.FinalPath}': cannot write report.json: permission denied", e.Message);
        dir.WriteText("report.md", "text");
        Assert.Equal("text", File.ReadAllText(dir.File("report.md")));
    }

    /// <summary>
    /// EFBIG reaches us as an ArgumentOutOfRangeException from .NET's file I/O (the CLI tests make one with ulimit -f);
    /// the same type thrown by a bug of ours (a bad slice) is not a write failure and must not be worded as one.
    /// </summary>
    [Fact]
    public void Only_file_io_makes_an_argument_out_of_range_a_write_failure()
    {
        Exception bug = Assert.ThrowsAny<ArgumentOutOfRangeException>(() => new int[1].AsSpan(2));
        Assert.False(AtomicDirectory.IsWriteFailure(bug));
        Assert.NotEqual(AtomicDirectory.FileTooLarge, AtomicDirectory.Reason(bug));
        Assert.True(AtomicDirectory.IsWriteFailure(new IOException("No space left on device")));
        Assert.True(AtomicDirectory.IsWriteFailure(new UnauthorizedAccessException()));
    }

    // Two folders holding a config.json each: the output (old) and a finished one to put in its place (new).
    private (string Output, string Finished) OldAndNew()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        File.WriteAllText(Path.Combine(output, "config.json"), "old");
        string finished = Directory.CreateDirectory(_dir.File("finished")).FullName;
        File.WriteAllText(Path.Combine(finished, "config.json"), "new");
        return (output, finished);
    }

    [LinuxFact]
    public void Replacing_a_folder_swaps_it_in_one_step_so_its_name_always_holds_an_output()
    {
        (string output, string finished) = OldAndNew();
        string? asideSeen = null;
        AtomicDirectory.ReplaceFolder(finished, output, "old", aside =>
        {
            // Between the steps, where a kill would stop the replacement: the name holds the new output already.
            asideSeen = aside;
            Assert.Equal("new", File.ReadAllText(Path.Combine(output, "config.json")));
            Assert.Equal("old", File.ReadAllText(Path.Combine(aside, "config.json")));
        });
        Assert.Equal(finished, asideSeen);
        Assert.Equal("new", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal(["out"], Entries(_dir.Path));
    }

    [LinuxFact]
    public void A_swapped_folder_that_may_not_be_replaced_is_swapped_back()
    {
        (string output, string finished) = OldAndNew();
        Assert.Throws<IOException>(() => AtomicDirectory.ReplaceFolder(finished, output, "old", _ => throw new IOException("refused")));
        Assert.Equal("old", File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal("new", File.ReadAllText(Path.Combine(finished, "config.json")));
        Assert.Equal(["finished", "out"], Entries(_dir.Path));
    }

    /// <summary>A power cut after the rename must find the files' bytes on the disk: they are flushed before it, the rename after.</summary>
    [LinuxFact]
    public void Commit_flushes_the_output_to_the_disk_before_publishing_it_and_the_rename_after()
    {
        using var flushes = new FlushRecorder(_dir.Path);
        string temp, parent;
        using (AtomicDirectory dir = AtomicDirectory.Create(_dir.File("out"), overwrite: false))
        {
            (temp, parent) = (dir.TempPath, Path.GetDirectoryName(dir.FinalPath)!);
            File.WriteAllText(dir.File("config.json"), "{}");
            Directory.CreateDirectory(dir.File("sub"));
            File.WriteAllText(Path.Combine(dir.File("sub"), "a.bin"), "x");
            dir.Commit();
        }
        // Flushed under the temporary name, which exists only until the rename: so before it.
        List<string> paths = [.. flushes.Paths];
        string config = Path.Combine(temp, "config.json"), sub = Path.Combine(temp, "sub"), file = Path.Combine(sub, "a.bin");
        Assert.Equal([config, sub, file], paths.SkipLast(2).Order(StringComparer.Ordinal));
        Assert.True(paths.IndexOf(file) < paths.IndexOf(sub)); // a folder after what it holds
        Assert.Equal([temp, parent], paths.TakeLast(2));
    }

    /// <summary>`prune --state out/st` puts a state folder inside the output: the next `-o out --force` replaces it whole.</summary>
    [Fact]
    public void Force_replaces_a_model_folder_whose_subfolder_holds_only_a_copal_state()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        File.WriteAllText(Path.Combine(output, "config.json"), "old");
        string state = Directory.CreateDirectory(Path.Combine(output, "st")).FullName;
        File.WriteAllText(Path.Combine(state, "copal-state.json"), "{}");
        File.WriteAllText(Path.Combine(state, "copal-state.safetensors"), "x");
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true))
        {
            File.WriteAllText(dir.File("config.json"), "new");
            dir.Commit();
        }
        Assert.Equal(["config.json"], Entries(output));

        // A state folder with anything else in it is a person's folder: refused at the start.
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(output, "st")).FullName, "copal-state.json"), "{}");
        File.WriteAllText(Path.Combine(output, "st", "notes.txt"), "mine");
        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true));
        Assert.StartsWith($"--out '{output}' holds the folder 'st', so it does not look like a model or report copal wrote", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A state folder inside the output that still holds the lock file of a run killed on a file system that kept it
    /// (or that was copied while a run held it): --force refused the output as a person's ("holds the folder 'st'").
    /// The lock file holds nothing: the folder is a state folder still, and one holding only a lock file is none.
    /// </summary>
    [Fact]
    public void Force_replaces_a_model_folder_whose_state_subfolder_holds_a_lock_file_left_behind()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        File.WriteAllText(Path.Combine(output, "config.json"), "old");
        string state = Directory.CreateDirectory(Path.Combine(output, "st")).FullName;
        File.WriteAllText(Path.Combine(state, "copal-state.json"), "{}");
        File.WriteAllText(Path.Combine(state, "copal-state.safetensors"), "x");
        File.WriteAllBytes(Path.Combine(state, ".copal-state.lock"), []);
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true))
        {
            File.WriteAllText(dir.File("config.json"), "new");
            dir.Commit();
        }
        Assert.Equal(["config.json"], Entries(output));

        File.WriteAllBytes(Path.Combine(Directory.CreateDirectory(Path.Combine(output, "st")).FullName, ".copal-state.lock"), []);
        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true));
        Assert.StartsWith($"--out '{output}' holds the folder 'st', so it does not look like a model or report copal wrote", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A model's named chat templates travel into a pruned or compacted output: the next `-o out --force` replaces it whole.</summary>
    [Fact]
    public void Force_replaces_a_model_folder_whose_subfolder_holds_only_named_chat_templates()
    {
        string output = Directory.CreateDirectory(_dir.File("out")).FullName;
        File.WriteAllText(Path.Combine(output, "config.json"), "old");
        string templates = Directory.CreateDirectory(Path.Combine(output, "additional_chat_templates")).FullName;
        File.WriteAllText(Path.Combine(templates, "tool_use.jinja"), "{{ messages }}");
        using (AtomicDirectory dir = AtomicDirectory.Create(output, overwrite: true))
        {
            File.WriteAllText(dir.File("config.json"), "new");
            dir.Commit();
        }
        Assert.Equal(["config.json"], Entries(output));

        // The same name holding anything else is a person's folder: refused at the start.
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(templates).FullName, "notes.txt"), "mine");
        var e = Assert.Throws<IOException>(() => AtomicDirectory.Create(output, overwrite: true));
        Assert.StartsWith($"--out '{output}' holds the folder 'additional_chat_templates', so it does not look like a model or report copal wrote", e.Message, StringComparison.Ordinal);
    }
}
