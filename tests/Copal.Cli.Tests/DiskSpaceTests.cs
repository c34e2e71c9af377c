using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// A prune that would fill its disk at its end fails at its start, naming both sizes: what the run writes beside the
/// pruned model before its output lands counts with it. copal runs in a mount namespace of its own on a small tmpfs
/// whose free space the test sets; before these checks each run pruned every layer and then failed writing.
/// </summary>
public sealed class DiskSpaceTests : IDisposable
{
    private readonly TempDir _temp = new("copal-space-");
    private readonly TempDir _disk = new("copal-space-disk-"); // the tmpfs mounts here, in copal's namespace only

    public void Dispose()
    {
        _temp.Dispose();
        _disk.Dispose();
    }

    /// <summary>The tmpfs holds the pruned model (1,016 KiB of tensors) but not its compact copy too.</summary>
    [TmpfsFact]
    public void Prune_compact_is_refused_before_pruning_where_the_compact_copy_does_not_fit_beside_the_model()
    {
        string outDir = _disk.File("out");
        CopalProcess.Result r = OnTmpfs("1500k", "prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "magnitude", "--pattern", "2:4", "--compact", "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains($"-o '{outDir}': the pruned model (1015.8 KiB) with its compact copy (", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(", and its file system has ", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("layer ", r.Stdout, StringComparison.Ordinal); // no layer was pruned
    }

    /// <summary>
    /// At 0.2 no linear is smaller compact: --compact writes no copy (the pruned model stays dense), so a tmpfs that
    /// holds the model alone is enough. It was refused, the dense model counted twice.
    /// </summary>
    [TmpfsFact]
    public void Prune_compact_with_too_few_zeros_to_compact_needs_room_for_the_model_alone()
    {
        string outDir = _disk.File("out");
        CopalProcess.Result r = OnTmpfs("1500k", "prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "magnitude", "--sparsity", "0.2", "--compact", "--device", "cpu");
        Assert.True(r.ExitCode == 0, $"exit code {r.ExitCode}, expected 0; stderr: {r.Stderr}");
        Assert.Contains("every linear stays dense", r.Stderr + r.Stdout, StringComparison.Ordinal);
    }

    /// <summary>--state on another file system, with no room for the COPAL state (1.2 MiB).</summary>
    [TmpfsFact]
    public void A_state_folder_on_a_file_system_without_room_for_the_state_is_refused_before_pruning()
    {
        string state = _disk.File("state");
        CopalProcess.Result r = OnTmpfs("200k", [.. Copal(_temp.File("out")), "--state", state]);
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains($"--state '{state}': the COPAL state takes ", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(", and its file system has ", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("layer ", r.Stdout, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(_temp.Path));
    }

    /// <summary>--state beside the output on one file system: room for the model and its state, not for the state's copy.</summary>
    [TmpfsFact]
    public void A_state_folder_on_the_outputs_file_system_counts_its_copy_with_the_model()
    {
        string outDir = _disk.File("out");
        CopalProcess.Result r = OnTmpfs("3000k", [.. Copal(outDir), "--state", _disk.File("state")]);
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains($"-o '{outDir}': the pruned model (1015.8 KiB) with its COPAL state (", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(") and the copy of its COPAL state for --state (", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("layer ", r.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// compact and densify check the model they write against the free space before writing it: a tmpfs of 300 KiB
    /// holds neither stories260K 2:4 compact nor dense (its embedding alone is 128 KiB, its linears 884 KiB dense).
    /// </summary>
    [TmpfsFact]
    public void Compact_and_densify_are_refused_before_writing_where_their_model_does_not_fit()
    {
        string pruned = _temp.File("pruned"), compact = _temp.File("compact");
        CopalProcess.Result made = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", pruned, "--method", "magnitude", "--pattern", "2:4", "--device", "cpu");
        Assert.True(made.ExitCode == 0, $"prune: exit code {made.ExitCode}; stderr: {made.Stderr}");
        made = CopalProcess.Run("compact", "-m", pruned, "-o", compact);
        Assert.True(made.ExitCode == 0, $"compact: exit code {made.ExitCode}; stderr: {made.Stderr}");
        foreach ((string verb, string input) in new[] { ("compact", pruned), ("densify", compact) })
        {
            string outDir = _disk.File(verb);
            CopalProcess.Result r = OnTmpfs("300k", verb, "-m", input, "-o", outDir);
            Assert.True(r.ExitCode == 1, $"{verb}: exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
            Assert.Contains($"-o '{outDir}': the written model takes ", r.Stderr, StringComparison.Ordinal);
            Assert.Contains(", and its file system has ", r.Stderr, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// compact copies the input's other files (tokenizer.json, chat templates) beside the model it writes: they count
    /// in the check. A pruned stories260K with Llama 3's tokenizer.json (8.7 MiB) on a tmpfs of 3,000 KiB, which holds
    /// the compact model alone, passed the check of its tensors and then failed copying the tokenizer.
    /// </summary>
    [TmpfsFact]
    public void Compact_counts_the_files_it_copies_beside_the_model_before_writing() => CompactWithLargeTokenizer(linked: false);

    /// <summary>As a Hugging Face cache holds it: the tokenizer.json a link to its blob, counted as the blob's 8.7 MiB, not the link's 49 bytes.</summary>
    [TmpfsFact]
    public void Compact_counts_a_linked_file_it_copies_by_its_target() => CompactWithLargeTokenizer(linked: true);

    private void CompactWithLargeTokenizer(bool linked)
    {
        string pruned = _temp.File("pruned");
        CopalProcess.Result made = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", pruned, "--method", "magnitude", "--pattern", "2:4", "--device", "cpu");
        Assert.True(made.ExitCode == 0, $"prune: exit code {made.ExitCode}; stderr: {made.Stderr}");
        string tokenizer = Path.Combine(pruned, "tokenizer.json"), large = TestData.Path("tokenizers", "llama3", "tokenizer.json");
        File.Delete(tokenizer);
        if (linked)
        {
            File.CreateSymbolicLink(tokenizer, large);
        }
        else
        {
            File.Copy(large, tokenizer);
        }
        string outDir = _disk.File("compact");

        CopalProcess.Result r = OnTmpfs("3000k", "compact", "-m", pruned, "-o", outDir);

        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains($"-o '{outDir}': the written model takes ", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(", and its file system has ", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// prune --compact's copy holds the model's named chat templates too: with 2 MiB of them, a tmpfs of 4,500 KiB
    /// passed the check made before the pruning and failed copying them into the compact copy after it.
    /// </summary>
    [TmpfsFact]
    public void Prune_compact_counts_the_named_chat_templates_in_its_compact_copy()
    {
        string model = TestData.CopyOfStories260K(_temp.File("model"));
        Directory.CreateDirectory(Path.Combine(model, "additional_chat_templates"));
        File.WriteAllText(Path.Combine(model, "additional_chat_templates", "large.jinja"), new string('a', 2 << 20));
        string outDir = _disk.File("out");

        CopalProcess.Result r = OnTmpfs("4500k", "prune", "-m", model, "-o", outDir, "--method", "magnitude", "--pattern", "2:4", "--compact", "--device", "cpu");

        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains($"-o '{outDir}': the pruned model (1015.8 KiB) with its compact copy (", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("layer ", r.Stdout, StringComparison.Ordinal); // no layer was pruned
    }

    /// <summary>
    /// synth copies the tokenizer's files (a chat template among them) into its output before the weights: they count
    /// in the check with the weights. A tmpfs of 800 KiB holds stories260K's shape in BF16 (513 KiB) or a 512 KiB
    /// chat_template.jinja, not both: the check of the weights alone passed, the template was copied, and the weights,
    /// generated tensor by tensor, then failed to fit.
    /// </summary>
    [TmpfsFact]
    public void Synth_counts_the_tokenizer_files_it_copies_before_writing()
    {
        string tokenizer = _temp.File("tokenizer");
        Directory.CreateDirectory(tokenizer);
        File.Copy(TestData.Path("models", "stories260K", "tokenizer.json"), Path.Combine(tokenizer, "tokenizer.json"));
        File.WriteAllText(Path.Combine(tokenizer, "chat_template.jinja"), new string('a', 512 << 10));
        string outDir = _disk.File("synth");

        CopalProcess.Result r = OnTmpfs("800k", "synth", "--config", TestData.Path("models", "stories260K", "config.json"), "-o", outDir, "--tokenizer", tokenizer);

        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}, expected 1; stderr: {r.Stderr}");
        Assert.Contains($"-o '{outDir}': the model (5 layers, BF16) with the tokenizer's files (", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(", and its file system has ", r.Stderr, StringComparison.Ordinal);
    }

    private static string[] Copal(string outDir) =>
        ["prune", "-m", TestData.Stories260K, "-o", outDir, "--method", "copal", "--sparsity", "0.5",
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "32", "--device", "cpu"];

    /// <summary>Runs copal with a tmpfs of <paramref name="size"/> mounted on the test's disk folder, in a namespace that ends with it.</summary>
    private CopalProcess.Result OnTmpfs(string size, params string[] args) =>
        CopalProcess.RunInShell($"exec unshare -rm bash -c 'mount -t tmpfs -o size=\"$1\" tmpfs \"$2\" && shift 2 && exec dotnet \"$@\"' bash {size} \"{_disk.Path}\" \"$@\"", args);
}
