using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// No combination of options writes into, replaces or deletes an input: outputs are compared with inputs after
/// resolving symbolic links anywhere in either path, and neither may contain the other.
/// </summary>
public sealed class OutputSafetyTests : IDisposable
{
    private readonly TempDir _temp = new("copal-safe-");

    private string CopyModel(string name) => TestData.CopyOfStories260K(_temp.File(name));

    private string Link(string name, string target)
    {
        string link = _temp.File(name);
        Directory.CreateSymbolicLink(link, target);
        return link;
    }

    /// <summary>A folder <paramref name="name"/> holding a link to each file of <paramref name="target"/>, as a Hugging Face cache's snapshot does.</summary>
    private string LinkFiles(string name, string target)
    {
        string folder = _temp.File(name);
        Directory.CreateDirectory(folder);
        foreach (string f in Directory.GetFiles(target))
        {
            File.CreateSymbolicLink(Path.Combine(folder, Path.GetFileName(f)), f);
        }
        return folder;
    }

    /// <summary>Runs copal, expects a refusal naming <paramref name="expected"/>, and checks that the input is byte-identical and nothing else appeared.</summary>
    private void AssertRefused(string model, string expected, params string[] args)
    {
        string before = BadInputTests.Hash(model);
        string[] entriesBefore = Entries();
        CopalProcess.Result r = CopalProcess.Run(args);
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal);
        Assert.True(Directory.Exists(model), $"{model} was removed");
        Assert.Equal(before, BadInputTests.Hash(model));
        Assert.Equal(entriesBefore, Entries());
    }

    [Fact]
    public void Force_replaces_a_model_folder_but_not_a_folder_of_other_files()
    {
        // A person's folder: a note and a subfolder. --force must not delete them.
        string documents = _temp.File("documents");
        Directory.CreateDirectory(Path.Combine(documents, "sub"));
        File.WriteAllText(Path.Combine(documents, "notes.txt"), "mine");
        AssertRefused(documents, "-o '" + documents + "' holds the folder 'sub', so it does not look like a model or report copal wrote",
            "prune", "-m", TestData.Stories260K, "-o", documents, "--force", "--method", "magnitude", "--sparsity", "0.5", "--no-layer-error");
        Directory.Delete(Path.Combine(documents, "sub"));
        AssertRefused(documents, "holds no config.json or report",
            "prune", "-m", TestData.Stories260K, "-o", documents, "--force", "--method", "magnitude", "--sparsity", "0.5", "--no-layer-error");

        // A folder of checkpoints another program keeps (an image generator's models/checkpoints: single .safetensors
        // files, no config.json): every output copal writes has a config.json or a report, so this is none of them.
        string checkpoints = _temp.File("checkpoints");
        Directory.CreateDirectory(checkpoints);
        File.Copy(Path.Combine(TestData.Stories260K, "model.safetensors"), Path.Combine(checkpoints, "sd15.safetensors"));
        File.WriteAllText(Path.Combine(checkpoints, "put_checkpoints_here"), "");
        AssertRefused(checkpoints, "-o '" + checkpoints + "' holds no config.json or report, so it does not look like a model or report copal wrote",
            "prune", "-m", TestData.Stories260K, "-o", checkpoints, "--force", "--method", "magnitude", "--sparsity", "0.5", "--no-layer-error");

        // A model folder written before is replaced.
        string model = _temp.File("model");
        Assert.Equal(0, CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", model, "--method", "magnitude", "--sparsity", "0.5", "--no-layer-error").ExitCode);
        CopalProcess.Result again = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", model, "--force", "--method", "magnitude", "--sparsity", "0.6", "--no-layer-error");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains("\"pattern\": \"0.6\"", File.ReadAllText(Path.Combine(model, "prune-report.json")), StringComparison.Ordinal);
    }

    /// <summary>
    /// A bind mount shows a folder at a second path that no link explains (as a case-insensitive file system takes
    /// <c>Llama</c> for <c>llama</c>): the output reached that way is still the input, or holds it, and --force must
    /// not replace it. copal runs in a mount namespace of its own where <c>view</c> shows the test's folder.
    /// </summary>
    [BindMountFact]
    public void Output_that_is_or_holds_the_input_through_a_bind_mount_is_refused()
    {
        string model = CopyModel("model");
        // Beside, not in, the test's folder: an output that holds it holds the input only on disk, not by its path.
        string view = Directory.CreateTempSubdirectory("copal-view-").FullName;
        string before = BadInputTests.Hash(model);
        string bound = $"exec unshare -rm bash -c 'mount --bind \"$1\" \"$2\" && shift 2 && exec dotnet \"$@\"' bash \"{_temp.Path}\" \"{view}\" \"$@\"";
        string[] prune = ["prune", "-m", Path.Combine(view, "model"), "--force", "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu"];
        try
        {
            foreach ((string output, string relation) in new[] { (model, "is"), (Path.Combine(model, "sub"), "is inside"), (_temp.Path, "contains") })
            {
                CopalProcess.Result r = CopalProcess.RunInShell(bound, [.. prune, "-o", output]);
                Assert.True(r.ExitCode == 1, $"-o {output}: exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
                Assert.Contains($"-o '{output}' {relation} the input folder '{Path.Combine(view, "model")}'", r.Stderr, StringComparison.Ordinal);
                Assert.Contains("on disk, reached by another path", r.Stderr, StringComparison.Ordinal);
                Assert.Equal(before, BadInputTests.Hash(model));
                Assert.False(Directory.Exists(Path.Combine(model, "sub")));
            }
        }
        finally
        {
            Directory.Delete(view); // empty: the mount lived in copal's namespace only
        }
    }

    [LinuxFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Files_copied_from_a_read_only_input_are_writable_in_the_output()
    {
        string input = CopyModel("read-only");
        foreach (string f in Directory.GetFiles(input))
        {
            File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
        string output = _temp.File("out");
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", input, "-o", output, "--method", "magnitude", "--sparsity", "0.5", "--no-layer-error");
        Assert.True(r.ExitCode == 0, r.Stderr);
        foreach (string name in new[] { "config.json", "tokenizer.json" })
        {
            Assert.True(File.GetUnixFileMode(Path.Combine(output, name)).HasFlag(UnixFileMode.UserWrite), name);
        }
    }

    private string[] Entries() => Directory.EnumerateFileSystemEntries(_temp.Path, "*", SearchOption.AllDirectories)
        .Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void Prune_from_a_link_onto_its_target_is_refused()
    {
        string real = CopyModel("real");
        string link = Link("link", real);
        AssertRefused(real, "is the input folder",
            "prune", "-m", link, "-o", real, "--force", "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
    }

    [Fact]
    public void Prune_onto_a_link_to_the_input_is_refused()
    {
        string real = CopyModel("real");
        string link = Link("link", real);
        AssertRefused(real, "is the input folder",
            "prune", "-m", real, "-o", link, "--force", "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
    }

    [Fact]
    public void Compact_from_a_link_onto_its_target_is_refused()
    {
        string real = CopyModel("real");
        string link = Link("link", real);
        AssertRefused(real, "is the input folder", "compact", link, "-o", real, "--force");
    }

    [Fact]
    public void Densify_through_a_linked_parent_is_refused()
    {
        // parent-link/real is real, spelled through a link to its parent folder.
        string real = CopyModel("real");
        string parentLink = Link("parent-link", _temp.Path);
        AssertRefused(real, "is the input folder", "densify", Path.Combine(parentLink, "real"), "-o", real, "--force");
    }

    [Fact]
    public void Output_inside_the_input_through_a_link_is_refused()
    {
        // The output does not exist yet; its parent is a link to the input.
        string real = CopyModel("real");
        string link = Link("link", real);
        AssertRefused(real, "is inside the input folder",
            "prune", "-m", real, "-o", Path.Combine(link, "pruned"), "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
    }

    /// <summary>
    /// A Hugging Face cache's snapshot folder holds links to blobs elsewhere: the input folder is apart from the
    /// output, but its files are not. Replacing the folder the blobs are in would destroy the input's weights.
    /// </summary>
    [Fact]
    public void Output_holding_the_files_the_input_links_to_is_refused()
    {
        string blobs = CopyModel("blobs");
        string snapshot = LinkFiles("snapshot", blobs);
        AssertRefused(blobs, "which the input folder",
            "prune", "-m", snapshot, "-o", blobs, "--force", "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
        AssertRefused(blobs, "which the input folder", "compact", snapshot, "-o", blobs, "--force");
    }

    [Fact]
    public void Output_inside_a_folder_the_input_links_to_is_refused()
    {
        string real = CopyModel("real");
        string holder = LinkFiles("holder", real);
        Link(Path.Combine("holder", "more"), real); // a link to a folder inside the input folder
        AssertRefused(real, "which the input folder",
            "prune", "-m", holder, "-o", Path.Combine(real, "pruned"), "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
    }

    [Fact]
    public void Output_containing_the_input_is_refused()
    {
        string outer = _temp.File("outer");
        Directory.CreateDirectory(outer);
        string real = CopyModel(Path.Combine("outer", "model"));
        string outerLink = Link("outer-link", outer);
        AssertRefused(real, "contains the input",
            "prune", "-m", Path.Combine(outerLink, "model"), "-o", outer, "--force", "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
    }

    [Fact]
    public void Calibration_file_inside_a_replaced_output_is_refused()
    {
        string model = CopyModel("model");
        string outDir = _temp.File("out");
        Directory.CreateDirectory(outDir);
        string calib = Path.Combine(outDir, "calib.txt");
        File.Copy(TestData.Path("text", "tinystories", "calib.txt"), calib);
        string before = BadInputTests.Hash(outDir);
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", model, "-o", outDir, "--force", "--method", "wanda", "--sparsity", "0.5",
            "--calib", calib, "--nsamples", "2", "--seqlen", "64", "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains("contains the --calib file", r.Stderr, StringComparison.Ordinal);
        Assert.Equal(before, BadInputTests.Hash(outDir));
    }

    /// <summary>link/../out is where the shell says, inside the model the link leads into, not beside the link as .NET alone would read it.</summary>
    [Fact]
    public void Dot_dot_after_a_link_means_what_it_means_to_the_shell()
    {
        string real = CopyModel("real");
        Directory.CreateDirectory(Path.Combine(real, "sub"));
        string link = Link("link", Path.Combine(real, "sub"));
        AssertRefused(real, "is inside the input folder",
            "prune", "-m", real, "-o", Path.Combine(link, "..", "pruned"), "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
    }

    [Fact]
    public void Logits_file_inside_the_model_folder_is_refused()
    {
        string real = CopyModel("real");
        string link = Link("link", real);
        AssertRefused(real, "is inside the input folder",
            "logits", "-m", link, "--text", "Once", "-o", Path.Combine(real, "model.safetensors"), "--device", "cpu");
    }

    [Fact]
    public void Synth_over_its_own_config_and_tokenizer_is_refused()
    {
        string real = CopyModel("real");
        AssertRefused(real, "contains the --config file",
            "synth", "--config", Path.Combine(real, "config.json"), "--tokenizer", real, "-o", Link("link", real), "--force", "--dtype", "f32");
    }

    [Fact]
    public void Prune_state_into_the_input_is_refused()
    {
        string real = CopyModel("real");
        AssertRefused(real, "--state",
            "prune", "-m", real, "-o", _temp.File("out"), "--method", "copal", "--sparsity", "0.5", "--state", Link("link", real),
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "64", "--device", "cpu");
    }

    /// <summary>A --state that cannot become a folder (a file on its path) is refused before any work, not after the run.</summary>
    [Fact]
    public void Prune_state_under_a_file_is_refused_before_any_work()
    {
        string model = CopyModel("model");
        string file = _temp.File("a-file");
        File.WriteAllText(file, "mine");
        AssertRefused(model, $"--state '{Path.Combine(file, "state")}': '{file}' is a file, so no folder can be made there",
            "prune", "-m", model, "-o", _temp.File("out"), "--method", "copal", "--sparsity", "0.5", "--state", Path.Combine(file, "state"),
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "64", "--device", "cpu");
        Assert.Equal("mine", File.ReadAllText(file));
    }

    /// <summary>
    /// An output folder under a file is refused as --state's is, naming the file, and before any work: it was .NET's
    /// "The file '...' already exists." once prune had estimated its memory and loaded the model.
    /// </summary>
    [Fact]
    public void An_output_folder_under_a_file_is_refused_naming_the_file_before_any_work()
    {
        string model = CopyModel("model");
        string file = _temp.File("a-file");
        File.WriteAllText(file, "mine");
        string output = Path.Combine(file, "out");
        AssertRefused(model, $"copal: error: -o '{output}': '{file}' is a file, so no folder can be made there\n",
            "prune", "-m", model, "-o", output, "--method", "magnitude", "--sparsity", "0.5");
        AssertRefused(model, $"copal: error: -o '{output}': '{file}' is a file, so no folder can be made there\n",
            "synth", "--config", model, "--tokenizer", model, "-o", output);
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", model, "-o", output, "--method", "magnitude", "--sparsity", "0.5");
        Assert.DoesNotContain("estimated memory", r.Stderr, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(file));
    }

    /// <summary>
    /// The state is written when the pruning is done: a --state where nothing can be written (here Linux's /proc; a
    /// read-only file system or a folder without permission alike) is refused before the work, not after it.
    /// </summary>
    [ProcFsFact]
    public void Prune_state_where_nothing_can_be_written_is_refused_before_any_work()
    {
        string model = CopyModel("model");
        string[] before = Entries();
        const string state = "/proc/copal-test-state";
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", model, "-o", _temp.File("out"), "--method", "copal", "--sparsity", "0.5", "--state", state,
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "64", "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains($"copal: error: --state '{state}': cannot write there: ", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("pruning", r.Stderr, StringComparison.Ordinal); // refused before the model is loaded
        Assert.Equal(before, Entries());
    }

    /// <summary>
    /// A --state that is --out, or inside it, lands with the output: the state is staged inside the output's temporary
    /// folder, never in the final folder before the output is renamed there.
    /// </summary>
    [Fact]
    public void Prune_state_in_or_inside_the_output_lands_with_it()
    {
        string model = CopyModel("model");
        string[] copal = ["--method", "copal", "--sparsity", "0.5", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "64", "--device", "cpu"];
        string same = _temp.File("same"), inside = _temp.File("inside");
        foreach ((string output, string state) in new[] { (same, same), (inside, Path.Combine(inside, "state")) })
        {
            CopalProcess.Result r = CopalProcess.Run(["prune", "-m", model, "-o", output, "--state", state, .. copal]);
            Assert.True(r.ExitCode == 0, $"--state {state}: exit code {r.ExitCode}; stderr: {r.Stderr}");
            Assert.Equal(File.ReadAllBytes(Path.Combine(output, "copal-state.safetensors")), File.ReadAllBytes(Path.Combine(state, "copal-state.safetensors")));
            Assert.Equal(File.ReadAllBytes(Path.Combine(output, "copal-state.json")), File.ReadAllBytes(Path.Combine(state, "copal-state.json")));
        }
        Assert.DoesNotContain(Directory.GetFileSystemEntries(_temp.Path), e => Path.GetFileName(e).StartsWith('.'));
    }

    /// <summary>The state a run continues from is an input: the step it belongs to keeps it as it was.</summary>
    [Fact]
    public void Prune_state_into_the_resume_folder_is_refused_and_an_existing_state_needs_force()
    {
        string model = CopyModel("model");
        string step1 = _temp.File("step1");
        string[] copal = ["--method", "copal", "--sparsity", "0.5", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "64", "--device", "cpu"];
        Assert.Equal(0, CopalProcess.Run(["prune", "-m", model, "-o", step1, .. copal]).ExitCode);

        AssertRefused(step1, "is the --resume folder",
            ["prune", "-m", model, "-o", _temp.File("step2"), "--resume", step1, "--state", step1, .. copal]);

        // A folder that already holds a state: refused before any work, replaced with --force.
        string kept = _temp.File("kept");
        Directory.CreateDirectory(kept);
        File.WriteAllText(Path.Combine(kept, "copal-state.json"), "{}");
        File.WriteAllText(Path.Combine(kept, "notes.txt"), "mine");
        AssertRefused(kept, "already holds a COPAL state",
            ["prune", "-m", model, "-o", _temp.File("step2"), "--resume", step1, "--state", kept, .. copal]);
        Assert.Equal(0, CopalProcess.Run(["prune", "-m", model, "-o", _temp.File("step2"), "--resume", step1, "--state", kept, "--force", "--seed", "2", .. copal]).ExitCode);
        Assert.Equal(File.ReadAllBytes(Path.Combine(_temp.Path, "step2", "copal-state.json")), File.ReadAllBytes(Path.Combine(kept, "copal-state.json")));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(kept, "notes.txt")));
    }

    /// <summary>
    /// A model's folder holds the state of the run that made it, written there by that run's -o. Another run's --state
    /// aimed at it (the --force meant for an existing -o replaces a state too) would overwrite that state with one
    /// that is not the model's, and `--resume` of the folder would continue another run: refused before any work,
    /// --force or not. A --state that is -o or inside it still lands with the output.
    /// </summary>
    [Fact]
    public void Prune_state_into_another_model_folder_is_refused()
    {
        string model = CopyModel("model");
        string step1 = _temp.File("step1");
        string[] copal = ["--method", "copal", "--sparsity", "0.5", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "64", "--device", "cpu"];
        Assert.Equal(0, CopalProcess.Run(["prune", "-m", model, "-o", step1, .. copal]).ExitCode);
        string other = _temp.File("other");
        Assert.Equal(0, CopalProcess.Run(["prune", "-m", model, "-o", other, "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu"]).ExitCode);

        AssertRefused(step1, $"--state '{step1}' holds a model (config.json)",
            ["prune", "-m", model, "-o", _temp.File("step2"), "--state", step1, "--force", .. copal]);
        AssertRefused(other, $"--state '{other}' holds a model (config.json)",
            ["prune", "-m", model, "-o", _temp.File("step2"), "--state", other, .. copal]);

        // The output's own folder, replaced with --force, is where its state belongs.
        CopalProcess.Result r = CopalProcess.Run(["prune", "-m", model, "-o", step1, "--state", step1, "--force", .. copal]);
        Assert.True(r.ExitCode == 0, $"exit code {r.ExitCode}; stderr: {r.Stderr}");
    }

    /// <summary>
    /// A --resume folder whose state files are links (to a step's output, say) keeps them: a --state where they really
    /// are would rename the new state over them, and the input would hold the next step's state. Refused before any
    /// work, --force or not, as an --out holding an input's linked file is.
    /// </summary>
    [Fact]
    public void Prune_state_onto_the_files_the_resume_folder_links_to_is_refused()
    {
        string model = CopyModel("model");
        string step1 = _temp.File("step1");
        string[] copal = ["--method", "copal", "--sparsity", "0.5", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "64", "--device", "cpu"];
        Assert.Equal(0, CopalProcess.Run(["prune", "-m", model, "-o", step1, .. copal]).ExitCode);
        string linked = _temp.File("linked");
        Directory.CreateDirectory(linked);
        foreach (string name in new[] { "copal-state.json", "copal-state.safetensors" })
        {
            File.CreateSymbolicLink(Path.Combine(linked, name), Path.Combine(step1, name));
        }
        AssertRefused(step1, "which the --resume folder",
            ["prune", "-m", model, "-o", _temp.File("step2"), "--resume", linked, "--state", step1, "--force", .. copal]);
    }

    [Fact]
    public void Prune_state_onto_a_file_is_refused_before_any_output()
    {
        string model = CopyModel("model");
        string file = _temp.File("state.txt");
        File.WriteAllText(file, "x");
        AssertRefused(model, "--state '" + file + "' is an existing file",
            "prune", "-m", model, "-o", _temp.File("out"), "--method", "copal", "--sparsity", "0.5", "--state", file,
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "64", "--device", "cpu");
        Assert.Equal("x", File.ReadAllText(file));
    }

    public void Dispose() => _temp.Dispose();
}
