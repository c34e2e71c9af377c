using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>Bad input gives one clear line naming the file/option with expected vs actual, and a non-zero exit code.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly TempDir _temp = new("copal-cli-");

    private static string Model => TestData.Stories260K;

    private static void AssertError(CopalProcess.Result r, int exitCode, string expected)
    {
        Assert.True(r.ExitCode == exitCode, $"exit code {r.ExitCode}, expected {exitCode}; stderr: {r.Stderr}");
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", r.Stderr, StringComparison.Ordinal); // no stack trace
    }

    private string CopyModel() => TestData.CopyOfStories260K(Path.Combine(_temp.Path, "model-" + Guid.NewGuid().ToString("N")[..6]));

    /// <summary>An --out that exists and is not empty is refused before the calibration text is read or the model loaded.</summary>
    [Fact]
    public void A_taken_out_folder_is_refused_before_the_calibration()
    {
        string taken = _temp.File("taken");
        Directory.CreateDirectory(taken);
        File.WriteAllText(Path.Combine(taken, "notes.txt"), "mine");
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", Model, "-o", taken, "--method", "wanda", "--sparsity", "0.5",
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--device", "cpu");
        // Named as typed: -o here, though the check deep in the library knows the option as --out.
        AssertError(r, 1, $"copal: error: -o '{taken}' exists and is not empty; pass --force to replace it");
        Assert.DoesNotContain("calibration", r.Stderr, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(taken, "notes.txt")));
    }

    /// <summary>A --temp where no folder can be made is said before the dense evaluation, naming --temp, and leaves no report.</summary>
    [Fact]
    public void A_temp_folder_that_cannot_be_made_is_refused_before_the_work()
    {
        string file = _temp.File("a-file");
        File.WriteAllText(file, "x");
        string calib = TestData.Path("text", "tinystories", "calib.txt"), eval = TestData.Path("text", "tinystories", "eval.txt");
        string report = _temp.File("report");
        CopalProcess.Result r = CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={calib}:{eval}", "--methods", "wanda", "--no-joint",
            "--sparsity", "0.5", "--nsamples", "8", "--seqlen", "64", "--eval-limit-chunks", "1", "--temp", Path.Combine(file, "sub"), "-o", report, "--device", "cpu");
        AssertError(r, 1, $"--temp '{Path.Combine(file, "sub")}': cannot make the working folder for the intermediate models there: ");
        Assert.DoesNotContain("perplexity", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(report));
    }

    [Fact]
    public void Copal_mask_option_misuse()
    {
        string calib = TestData.Path("text", "ptb", "ptb.valid.txt");
        AssertError(CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={calib}", "--sparsity", "0.5", "--mask", "obs", "--update", "-o", _temp.File("c")), 2,
            "--update applies to --mask fixed");
        AssertError(CopalProcess.Run("prune", "-m", Model, "--method", "wanda", "--calib", calib, "--sparsity", "0.5", "--mask", "obs", "-o", _temp.File("o")), 2,
            "--mask applies only to --method copal");
        Assert.False(Directory.Exists(_temp.File("c")));
    }

    [Fact]
    public void Continual_refuses_copal_options_when_no_copal_variant_runs()
    {
        string calib = TestData.Path("text", "ptb", "ptb.valid.txt");
        AssertError(CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={calib}", "--methods", "wanda", "--sparsity", "0.5", "--update", "-o", _temp.File("c")), 2,
            "--update applies only when --methods includes copal (got --methods wanda)");
        AssertError(CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={calib}", "--methods", "magnitude,wanda", "--sparsity", "0.5", "--upstream", "dense", "--dense-target", "0.3", "-o", _temp.File("c")), 2,
            "--upstream, --dense-target apply only when --methods includes copal (got --methods magnitude,wanda)");
        Assert.False(Directory.Exists(_temp.File("c")));
    }

    [Fact]
    public void Continual_refuses_a_method_given_twice_and_a_temp_folder_that_is_a_file()
    {
        string calib = TestData.Path("text", "ptb", "ptb.valid.txt");
        AssertError(CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={calib}", "--methods", "wanda,magnitude,wanda", "--sparsity", "0.5", "-o", _temp.File("c")), 2,
            "--methods: expected each method at most once, got 'wanda,magnitude,wanda'");
        string file = _temp.File("not-a-folder");
        File.WriteAllText(file, "x");
        CopalProcess.Result r = CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={calib}", "--methods", "magnitude", "--no-joint", "--sparsity", "0.5",
            "--nsamples", "1", "--seqlen", "32", "--eval-limit-chunks", "1", "--temp", file, "-o", _temp.File("c"));
        AssertError(r, 1, $"--temp '{file}' is an existing file; expected a folder");
        Assert.False(Directory.Exists(_temp.File("c")));
    }

    [Fact]
    public void Continual_refuses_a_pattern_the_model_cannot_take_before_any_evaluation()
    {
        // stories260K's down_proj has 172 inputs: 4:8 cannot tile it. The refusal comes before the dense evaluation.
        string calib = TestData.Path("text", "ptb", "ptb.valid.txt");
        CopalProcess.Result r = CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={calib}", "--pattern", "4:8", "-o", _temp.File("c"));
        AssertError(r, 2, "down_proj.weight has 172 inputs (not a multiple of 8)");
        Assert.DoesNotContain("dense", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("c")));
    }

    [Fact]
    public void Continual_seed_options_misuse()
    {
        string calib = TestData.Path("text", "ptb", "ptb.valid.txt");
        AssertError(CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={calib}", "--sparsity", "0.5", "--seed", "1", "--seeds", "0,1", "-o", _temp.File("c")), 2,
            "--seed 1 and --seeds 0,1: expected one of them");
        AssertError(CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={calib}", "--sparsity", "0.5", "--seeds", "0,0", "-o", _temp.File("c")), 2,
            "a comma-separated list of distinct non-negative integers");
        Assert.False(Directory.Exists(_temp.File("c")));
    }

    /// <summary>
    /// A penalty in range that sends a logit past float's range on these logits leaves no token: a failure naming the
    /// option as typed, not the library's property name.
    /// </summary>
    [Fact]
    public void A_penalty_that_leaves_no_token_to_choose_names_its_option()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", TestData.Stories260K, "-p", "Once upon a time there was a girl",
            "-n", "3", "--repetition-penalty", "1e-38", "--device", "cpu");
        AssertError(r, 1, "copal: error: --repetition-penalty: a logit is NaN or +∞");
        // The value, in words a person reads: the library's property name (RepetitionPenalty) was in the line.
        Assert.Contains("no token can be chosen (the repetition penalty of 1E-38 sent a finite logit out of range)", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("RepetitionPenalty", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// An empty folder is told by the file every model has, config.json, not by the tokenizer; a folder without
    /// tokenizer.json is told alike by every command.
    /// </summary>
    [Fact]
    public void An_empty_model_folder_names_config_json_and_a_missing_tokenizer_is_told_alike()
    {
        string empty = Directory.CreateDirectory(_temp.File("empty")).FullName;
        AssertError(CopalProcess.Run("generate", "-m", empty, "-p", "hi", "-n", "1", "--device", "cpu"), 1, "config.json: file not found");
        string m = CopyModel();
        File.Delete(Path.Combine(m, "tokenizer.json"));
        string expected = $"{m}: no tokenizer.json in the model folder";
        AssertError(CopalProcess.Run("generate", "-m", m, "-p", "hi", "-n", "1", "--device", "cpu"), 1, expected);
        AssertError(CopalProcess.Run("tokenize", "-m", m, "-t", "hi"), 1, expected);
    }

    /// <summary>
    /// A model's file that is a named pipe is refused naming it: opening a pipe to read waits for a writer, so the
    /// run hung before any work, and the first Ctrl-C or SIGTERM could not end it.
    /// </summary>
    [LinuxTheory]
    [InlineData("config.json")]
    [InlineData("tokenizer.json")]
    [InlineData("model.safetensors")]
    public void A_model_file_that_is_a_named_pipe_is_refused_naming_it(string file)
    {
        string m = CopyModel();
        File.Delete(Path.Combine(m, file));
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [Path.Combine(m, file)]))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", m, "-p", "hi", "-n", "1", "--device", "cpu");
        AssertError(r, 1, "it is a named pipe, expected a regular file");
        string error = Assert.Single(r.Stderr.Split('\n'), line => line.StartsWith("copal: error:", StringComparison.Ordinal));
        Assert.Contains($"{Path.Combine(m, file)}: ", error, StringComparison.Ordinal);
    }

    /// <summary>
    /// A pipe a shell passes as /dev/fd/N (process substitution, <c>--config &lt;(...)</c>) has its writer already:
    /// read as it comes, not refused as a named pipe.
    /// </summary>
    [LinuxFact]
    public void A_config_given_through_a_pipe_the_shell_opened_is_read()
    {
        string config = Path.Combine(Model, "config.json");
        string output = _temp.File("synth");
        CopalProcess.Result r = CopalProcess.RunInShell($"exec 3< <(cat '{config}')", "synth", "--config", "/dev/fd/3", "-o", output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
    }

    /// <summary>
    /// A text input that exists but cannot be read is refused naming its option, before the model loads; it was
    /// .NET's "Access to the path ... is denied." after the load, naming no option.
    /// </summary>
    [UnreadableFileFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void An_unreadable_text_input_is_refused_naming_its_option_before_the_model_loads()
    {
        string text = _temp.File("unreadable.txt");
        File.Copy(TestData.Path("text", "tinystories", "calib.txt"), text);
        File.SetUnixFileMode(text, UnixFileMode.None);
        string refused = $"file '{text}' cannot be read: permission denied";
        foreach ((string typed, string[] args) in new (string, string[])[]
        {
            ("--data", ["perplexity", "-m", Model, "--data", text, "--device", "cpu"]),
            ("--calib", ["prune", "-m", Model, "-o", _temp.File("out"), "--method", "wanda", "--sparsity", "0.5", "--calib", text, "--device", "cpu"]),
            ("-f", ["tokenize", "-m", Model, "-f", text]),
            ("--datasets", ["continual", "-m", Model, "--datasets", $"a={text}", "--methods", "magnitude", "--sparsity", "0.5", "-o", _temp.File("report"), "--device", "cpu"]),
        })
        {
            CopalProcess.Result r = CopalProcess.RunBoundByPermissions(args);
            AssertError(r, 1, $"copal: error: {typed}: {refused}\n");
            Assert.DoesNotContain("loading", r.Stderr, StringComparison.Ordinal);
        }
        Assert.False(Directory.Exists(_temp.File("out")));
        Assert.False(Directory.Exists(_temp.File("report")));
    }

    /// <summary>
    /// A model file without read permission is named with the reason in plain words, once: it was
    /// "FILE: cannot open: Access to the path 'FILE' is denied.", .NET's sentence repeating the path.
    /// </summary>
    [UnreadableFileFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void An_unreadable_model_file_is_named_with_the_reason_in_plain_words()
    {
        foreach ((string name, string expected) in new[]
        {
            ("config.json", "config.json: cannot be read: permission denied"),
            ("model.safetensors", "model.safetensors: cannot open: permission denied"),
            ("tokenizer.json", "tokenizer.json: cannot read tokenizer file: permission denied"),
            ("tokenizer_config.json", "tokenizer_config.json: cannot read tokenizer config file: permission denied"),
            ("generation_config.json", "generation_config.json: cannot be read: permission denied"),
        })
        {
            string m = CopyModel();
            File.SetUnixFileMode(Path.Combine(m, name), UnixFileMode.None);
            CopalProcess.Result r = CopalProcess.RunBoundByPermissions("generate", "-m", m, "-p", "hi", "-n", "1", "--device", "cpu");
            AssertError(r, 1, $"copal: error: {Path.Combine(m, expected)}\n");
        }
    }

    /// <summary>
    /// A model folder that cannot be read is said to be so, naming the option: it was "config.json: file not found",
    /// "no tokenizer.json in the model folder" or .NET's "Access to the path ... is denied.", none of them true.
    /// </summary>
    [UnreadableFileFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void An_unreadable_model_folder_is_refused_as_such_naming_the_option()
    {
        string m = CopyModel();
        File.SetUnixFileMode(m, UnixFileMode.None);
        try
        {
            foreach (string[] args in new[]
            {
                new[] { "generate", "-m", m, "-n", "1", "--device", "cpu" },
                ["tokenize", "-m", m, "-t", "hi"],
                ["inspect", "-m", m],
                ["prune", "-m", m, "-o", _temp.File("out"), "--method", "magnitude", "--sparsity", "0.5"],
            })
            {
                AssertError(CopalProcess.RunBoundByPermissions(args), 1, $"copal: error: -m: model folder '{m}' cannot be read: permission denied\n");
            }
            // Search permission alone still reads a model whose files are named.
            File.SetUnixFileMode(m, UnixFileMode.UserExecute);
            CopalProcess.Result searchOnly = CopalProcess.RunBoundByPermissions("generate", "-m", m, "-n", "1", "--device", "cpu");
            Assert.True(searchOnly.ExitCode == 0, searchOnly.Stderr);
        }
        finally
        {
            File.SetUnixFileMode(m, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    /// <summary>
    /// A --resume state that cannot be read is said to be so, naming the option or the file: the folder gave .NET's
    /// "Access to the path '...' is denied." and the manifest the same, as unreadable model folders and texts did.
    /// </summary>
    [UnreadableFileFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void An_unreadable_resume_state_is_refused_as_such()
    {
        string state = _temp.File("step1");
        string[] common = ["--method", "copal", "--sparsity", "0.5", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "32", "--device", "cpu"];
        CopalProcess.Result first = CopalProcess.Run(["prune", "-m", Model, "-o", state, .. common]);
        Assert.True(first.ExitCode == 0, first.Stderr);
        string[] resume = ["prune", "-m", Model, "-o", _temp.File("step2"), "--resume", state, "--seed", "1", .. common];
        File.SetUnixFileMode(state, UnixFileMode.None);
        try
        {
            AssertError(CopalProcess.RunBoundByPermissions(resume), 1, $"copal: error: --resume: state folder '{state}' cannot be read: permission denied\n");
            File.SetUnixFileMode(state, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            string manifest = Path.Combine(state, "copal-state.json");
            File.SetUnixFileMode(manifest, UnixFileMode.None);
            AssertError(CopalProcess.RunBoundByPermissions(resume), 1, $"copal: error: '{manifest}' cannot be read: permission denied\n");
        }
        finally
        {
            File.SetUnixFileMode(state, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        Assert.False(Directory.Exists(_temp.File("step2")));
    }

    /// <summary>
    /// A --resume state's file that is a named pipe is refused naming it, as a model's is: the manifest was read with
    /// File.ReadAllText, whose open waits for a writer, so the run hung before any work and SIGTERM could not end it.
    /// </summary>
    [LinuxTheory]
    [InlineData("copal-state.json")]
    [InlineData("copal-state.safetensors")]
    public void A_resume_state_file_that_is_a_named_pipe_is_refused_naming_it(string file)
    {
        string state = _temp.File("step1");
        string[] common = ["--method", "copal", "--sparsity", "0.5", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "32", "--device", "cpu"];
        CopalProcess.Result first = CopalProcess.Run(["prune", "-m", Model, "-o", state, .. common]);
        Assert.True(first.ExitCode == 0, first.Stderr);
        File.Delete(Path.Combine(state, file));
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", [Path.Combine(state, file)]))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        CopalProcess.Result r = CopalProcess.Run(["prune", "-m", Model, "-o", _temp.File("step2"), "--resume", state, "--seed", "1", .. common]);
        AssertError(r, 1, "it is a named pipe, expected a regular file");
        string error = Assert.Single(r.Stderr.Split('\n'), line => line.StartsWith("copal: error:", StringComparison.Ordinal));
        Assert.Contains(Path.Combine(state, file), error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("step2")));
    }

    /// <summary>
    /// A --resume manifest that never ends (a link to /dev/zero) is refused once more came than a manifest holds, naming
    /// it: it was read whole, until the run ran out of memory ("out of memory", naming nothing).
    /// </summary>
    [LinuxFact]
    public void A_resume_manifest_that_never_ends_is_refused_naming_it()
    {
        string state = _temp.File("step1");
        string[] common = ["--method", "copal", "--sparsity", "0.5", "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "32", "--device", "cpu"];
        CopalProcess.Result first = CopalProcess.Run(["prune", "-m", Model, "-o", state, .. common]);
        Assert.True(first.ExitCode == 0, first.Stderr);
        string manifest = Path.Combine(state, "copal-state.json");
        File.Delete(manifest);
        File.CreateSymbolicLink(manifest, "/dev/zero");
        CopalProcess.Result r = CopalProcess.Run(["prune", "-m", Model, "-o", _temp.File("step2"), "--resume", state, "--seed", "1", .. common]);
        AssertError(r, 1, $"copal: error: '{manifest}' cannot be read: more than 67108864 bytes came from it, more than a copal-state.json holds\n");
        Assert.False(Directory.Exists(_temp.File("step2")));
    }

    /// <summary>
    /// synth's --tokenizer and --config folders that cannot be read are said to be so, as -m's is: they were "no
    /// tokenizer.json in the model folder" and "has no config.json", neither of them true.
    /// </summary>
    [UnreadableFileFact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Unreadable_synth_input_folders_are_refused_as_such()
    {
        string m = CopyModel();
        File.SetUnixFileMode(m, UnixFileMode.None);
        try
        {
            AssertError(CopalProcess.RunBoundByPermissions("synth", "--preset", "test-tiny", "--tokenizer", m, "-o", _temp.File("s")), 1,
                $"copal: error: --tokenizer: folder '{m}' cannot be read: permission denied\n");
            AssertError(CopalProcess.RunBoundByPermissions("synth", "--config", m, "-o", _temp.File("s")), 1,
                $"copal: error: --config: folder '{m}' cannot be read: permission denied\n");
        }
        finally
        {
            File.SetUnixFileMode(m, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        Assert.False(Directory.Exists(_temp.File("s")));
    }

    /// <summary>A --datasets text that does not exist is named with its option, as --data's and --calib's are.</summary>
    [Fact]
    public void A_missing_datasets_text_names_the_option()
    {
        string absent = _temp.File("absent.txt");
        CopalProcess.Result r = CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={absent}", "--methods", "magnitude", "--sparsity", "0.5",
            "-o", _temp.File("report"), "--device", "cpu");
        AssertError(r, 1, $"copal: error: --datasets: file '{absent}' does not exist\n");
        Assert.False(Directory.Exists(_temp.File("report")));
    }

    [Fact]
    public void Missing_model_folder()
    {
        AssertError(CopalProcess.Run("generate", "-m", _temp.File("nope"), "-n", "1", "--device", "cpu"), 1, "does not exist");
    }

    [Fact]
    public void Corrupt_config()
    {
        string m = CopyModel();
        File.WriteAllText(Path.Combine(m, "config.json"), "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64");
        AssertError(CopalProcess.Run("generate", "-m", m, "-n", "1", "--device", "cpu"), 1, "config.json: is not valid JSON");
    }

    // A folder where a model file is expected is said to be one, not reported as missing (docs/cli.md).
    [Theory]
    [InlineData("config.json", "generate", "-n", "1", "--device", "cpu")]
    [InlineData("config.json", "prune", "-o", "OUT", "--method", "magnitude", "--sparsity", "0.5")]
    [InlineData("tokenizer.json", "generate", "-n", "1", "--device", "cpu")]
    [InlineData("tokenizer.json", "tokenize", "-t", "Once")]
    [InlineData("tokenizer_config.json", "tokenize", "-t", "Once")]
    [InlineData("model.safetensors", "generate", "-n", "1", "--device", "cpu")]
    [InlineData("model.safetensors", "inspect")]
    public void A_folder_in_place_of_a_model_file_is_said_to_be_a_folder(string file, string command, params string[] rest)
    {
        string m = CopyModel();
        File.Delete(Path.Combine(m, file));
        Directory.CreateDirectory(Path.Combine(m, file));
        string[] args = [command, "-m", m, .. rest.Select(a => a == "OUT" ? _temp.File("out") : a)];
        CopalProcess.Result r = CopalProcess.Run(args);
        AssertError(r, 1, $"{Path.Combine(m, file)}: is a directory, expected a file");
        Assert.DoesNotContain("not found", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("no " + file, r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("out")));
    }

    [Fact]
    public void Inspect_says_config_json_is_a_folder()
    {
        string m = CopyModel();
        File.Delete(Path.Combine(m, "config.json"));
        Directory.CreateDirectory(Path.Combine(m, "config.json"));
        CopalProcess.Result r = CopalProcess.Run("inspect", "-m", m);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains($"config: {Path.Combine(m, "config.json")}: is a directory, expected a file", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Not_llama_family()
    {
        string m = CopyModel();
        string config = File.ReadAllText(Path.Combine(m, "config.json")).Replace("LlamaForCausalLM", "GPT2LMHeadModel", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(m, "config.json"), config);
        AssertError(CopalProcess.Run("prune", "-m", m, "-o", _temp.File("o"), "--method", "magnitude", "--sparsity", "0.5"), 1,
            "architecture 'GPT2LMHeadModel' is not supported; supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, GraniteForCausalLM, Olmo2ForCausalLM, Gemma3ForCausalLM");
    }

    [Fact]
    public void Truncated_weights()
    {
        string m = CopyModel();
        string weights = Path.Combine(m, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]);
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", m, "-n", "1", "--device", "cpu");
        AssertError(r, 1, "model.safetensors");
    }

    [Fact]
    public void Wrong_tensor_shape_names_the_tensor()
    {
        string m = CopyModel();
        string config = File.ReadAllText(Path.Combine(m, "config.json")).Replace("\"intermediate_size\": 172", "\"intermediate_size\": 170", StringComparison.Ordinal);
        File.WriteAllText(Path.Combine(m, "config.json"), config);
        AssertError(CopalProcess.Run("generate", "-m", m, "-n", "1", "--device", "cpu"), 1,
            "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [172, 64], expected [170, 64]");
    }

    /// <summary>A bias the config does not read (attention_bias false) was dropped without a word: the run exited 0.</summary>
    [Fact]
    public void A_tensor_the_model_does_not_read_is_refused_naming_it()
    {
        string m = CopyModel();
        string weights = Path.Combine(m, "model.safetensors"), rewritten = weights + ".new";
        const string Bias = "model.layers.0.self_attn.q_proj.bias";
        using (var source = Copal.Tensors.Safetensors.SafetensorsCheckpoint.Open(TestData.Stories260K))
        {
            using var writer = Copal.Tensors.Safetensors.SafetensorsWriter.Create(rewritten,
                [.. source.Tensors.Select(t => new Copal.Tensors.Safetensors.TensorSpec(t.Name, t.DType, t.Shape)), new(Bias, Copal.Tensors.DType.F32, [64])]);
            foreach (Copal.Tensors.TensorView t in source.Tensors)
            {
                writer.Write(t.Name, t.Bytes);
            }
            writer.Write(Bias, new byte[64 * sizeof(float)]);
            writer.Commit();
        }
        File.Move(rewritten, weights, overwrite: true);
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", m, "-n", "1", "--device", "cpu");
        AssertError(r, 1, $"copal: error: {m}: tensor '{Bias}' is not read by LlamaForCausalLM as config.json describes it (attention_bias is false)");
        Assert.Equal("", r.Stdout);
    }

    /// <summary>A binary file as config.json was quoted to its end: one line of kilobytes of raw bytes, escapes included.</summary>
    [Fact]
    public void A_binary_config_is_quoted_in_a_short_printable_line()
    {
        string m = CopyModel();
        byte[] binary = new byte[4096];
        new Random(7).NextBytes(binary);
        binary[0] = (byte)'t'; // a literal the reader quotes up to the next delimiter
        binary[1] = 0x1b;
        File.WriteAllBytes(Path.Combine(m, "config.json"), binary);
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", m, "-n", "1", "--device", "cpu");
        AssertError(r, 1, $"copal: error: {Path.Combine(m, "config.json")}: is not valid JSON at line 1, byte 2: 't\\u001B");
        string error = Assert.Single(r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("copal: error:", StringComparison.Ordinal));
        Assert.True(error.Length < 300, error);
        Assert.DoesNotContain(error, char.IsControl);
    }

    [Fact]
    public void Prompt_longer_than_the_context()
    {
        string prompt = string.Concat(Enumerable.Repeat("Once upon a time there was a dog. ", 120));
        AssertError(CopalProcess.Run("generate", "-m", Model, "--prompt", prompt, "-n", "1", "--device", "cpu"), 2, "longer than the model's context of 512 tokens");
    }

    /// <summary>
    /// Another model's tokenizer gives ids this model has no row for: refused before any output, naming the token, the
    /// ids and both sizes (it was found mid-run, after the prompt had been printed).
    /// </summary>
    [Fact]
    public void A_token_past_the_models_vocabulary_is_refused_before_any_output()
    {
        string m = CopyModel();
        string tokenizer = Path.Combine(m, "tokenizer.json");
        var json = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tokenizer))!;
        json["added_tokens"]!.AsArray().Add(new System.Text.Json.Nodes.JsonObject
        {
            ["id"] = 5000, ["content"] = "<big>", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = false,
        });
        File.WriteAllText(tokenizer, json.ToJsonString());
        const string Expected = "holds the token '<big>' (id 5000), outside the model's vocabulary of 512 (config.json vocab_size)";
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", m, "-p", "Once<big>", "-n", "3", "--device", "cpu");
        AssertError(r, 1, "the prompt " + Expected);
        Assert.Equal("", r.Stdout);
        string text = _temp.File("big.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("Once upon a time <big> ", 200)));
        AssertError(CopalProcess.Run("perplexity", "-m", m, "--data", text, "--seqlen", "64", "--device", "cpu"), 1, "--data's text " + Expected);
        AssertError(CopalProcess.Run("prune", "-m", m, "-o", _temp.File("out"), "--method", "wanda", "--sparsity", "0.5", "--calib", text,
            "--nsamples", "2", "--seqlen", "64", "--device", "cpu"), 1, $"--calib text '{text}' " + Expected);
    }

    // No text is the shortest text: a usage error naming the option, as a text shorter than one window is (below).
    [Fact]
    public void Empty_data_file()
    {
        string empty = _temp.File("empty.txt");
        File.WriteAllText(empty, "  \n");
        AssertError(CopalProcess.Run("perplexity", "-m", Model, "--data", empty, "--device", "cpu"), 2,
            $"--data: text file '{empty}' has no text (3 bytes of white space); one window of --seqlen 512 needs at least 512 tokens");
        File.WriteAllText(empty, "");
        AssertError(CopalProcess.Run("prune", "-m", Model, "-o", _temp.File("out"), "--method", "wanda", "--sparsity", "0.5", "--calib", empty, "--device", "cpu"), 2,
            $"--calib: text file '{empty}' has no text (0 bytes)");
        AssertError(CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={empty}:{TestData.Path("text", "tinystories", "eval.txt")}", "--methods", "magnitude",
            "--sparsity", "0.5", "-o", _temp.File("report"), "--device", "cpu"), 2, $"--datasets: text file '{empty}' has no text (0 bytes)");
        Assert.False(Directory.Exists(_temp.File("report")));
    }

    /// <summary>A text longer than one string holds ended in an "internal error" out of memory after reading it.</summary>
    [Fact]
    public void A_text_file_longer_than_a_string_holds_is_refused_by_its_size()
    {
        string huge = _temp.File("huge.txt");
        using (FileStream f = File.Create(huge))
        {
            f.SetLength(3L << 30); // sparse: nothing is written, and the size alone refuses it
        }
        const string Expected = "is 3,221,225,472 bytes; expected at most 1,073,741,791 bytes of text (the most one string holds): split it";
        AssertError(CopalProcess.Run("perplexity", "-m", Model, "--data", huge, "--seqlen", "16", "--device", "cpu"), 1, $"copal: error: text file '{huge}' {Expected}");
        AssertError(CopalProcess.Run("tokenize", "-m", Model, "-f", huge), 1, $"copal: error: text file '{huge}' {Expected}");
    }

    // Text shorter than one window of --seqlen is a value checked against the data: a usage error naming the file
    // and the option, the same for perplexity as for prune's calibration text (below).
    [Fact]
    public void Perplexity_text_shorter_than_one_window_is_a_usage_error_naming_the_file()
    {
        string shortText = _temp.File("short.txt");
        File.WriteAllText(shortText, "Once upon a time.\n");
        CopalProcess.Result r = CopalProcess.Run("perplexity", "-m", Model, "-d", shortText, "--device", "cpu");
        AssertError(r, 2, $"-d: text '{shortText}' has 7 tokens; one window of --seqlen 512 (the default) needs at least 512");
        Assert.EndsWith("Run 'copal perplexity --help' for the options.\n", r.Stderr, StringComparison.Ordinal);
        AssertError(CopalProcess.Run("perplexity", "-m", Model, "--data", shortText, "--seqlen", "16", "--device", "cpu"), 2,
            $"--data: text '{shortText}' has 7 tokens; one window of --seqlen 16 needs at least 16");
        AssertError(CopalProcess.RunWithInput("Once upon a time.\n", "perplexity", "-m", Model, "--data", "-", "--seqlen", "16", "--device", "cpu"), 2,
            "--data: standard input has 7 tokens; one window of --seqlen 16 needs at least 16");
    }

    [Fact]
    public void Continual_evaluation_text_shorter_than_one_window_is_a_usage_error_before_any_evaluation()
    {
        string shortText = _temp.File("short.txt");
        File.WriteAllText(shortText, "Once upon a time.\n");
        string calib = TestData.Path("text", "tinystories", "calib.txt");
        CopalProcess.Result r = CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={calib}:{shortText}", "--methods", "magnitude",
            "--sparsity", "0.5", "--nsamples", "2", "--seqlen", "32", "--no-joint", "--device", "cpu", "-o", _temp.File("c"));
        AssertError(r, 2, $"--datasets: evaluation text '{shortText}' of 'a' has 7 tokens; one window of --eval-seqlen 32 (the default: --seqlen) needs at least 32");
        Assert.DoesNotContain("perplexity", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("c")));
    }

    [Fact]
    public void Continual_calibration_text_shorter_than_one_window_is_a_usage_error_naming_the_file()
    {
        // The dataset's name alone ('a') did not say which file was too short.
        string shortText = _temp.File("short.txt");
        File.WriteAllText(shortText, "Once upon a time.\n");
        string eval = TestData.Path("text", "tinystories", "eval.txt");
        CopalProcess.Result r = CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={shortText}:{eval}", "--methods", "magnitude",
            "--sparsity", "0.5", "--nsamples", "2", "--seqlen", "32", "--no-joint", "--device", "cpu", "-o", _temp.File("c"));
        AssertError(r, 2, $"calibration text '{shortText}' of 'a' has 7 tokens; one window of --seqlen 32 needs at least 33");
        Assert.False(Directory.Exists(_temp.File("c")));
    }

    [Fact]
    public void A_base_model_with_another_vocabulary_is_refused_from_its_config()
    {
        // Only config.json differs: the refusal comes before either model's weights load.
        string other = CopyModel();
        string config = Path.Combine(other, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"vocab_size\": 512", "\"vocab_size\": 600", StringComparison.Ordinal));
        AssertError(CopalProcess.Run("perplexity", "-m", Model, "--data", TestData.Path("text", "tinystories", "eval.txt"), "--compare", other, "--device", "cpu"), 2,
            $"--compare: the base model '{other}' has a vocabulary of 600 tokens, the model 512; a comparison needs the same vocabulary");
    }

    /// <summary>
    /// A base model whose context is shorter than the window: both models loaded, then the base's state was refused as
    /// an argument error naming maxPositions. Now from its config, as its vocabulary is.
    /// </summary>
    [Fact]
    public void A_base_model_with_a_shorter_context_than_the_window_is_refused_from_its_config()
    {
        string other = CopyModel();
        string config = Path.Combine(other, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"max_position_embeddings\": 512", "\"max_position_embeddings\": 256", StringComparison.Ordinal));
        string eval = TestData.Path("text", "tinystories", "eval.txt");
        AssertError(CopalProcess.Run("perplexity", "-m", Model, "--data", eval, "--compare", other, "--device", "cpu"), 2,
            $"--compare: the base model '{other}' has a context of 256 positions (max_position_embeddings); --seqlen 512 (the default) exceeds it");
        AssertError(CopalProcess.Run("perplexity", "-m", Model, "--data", eval, "--compare", other, "--seqlen", "300", "--device", "cpu"), 2,
            $"--compare: the base model '{other}' has a context of 256 positions (max_position_embeddings); --seqlen 300 exceeds it");
    }

    /// <summary>A context of one position leaves no window: the message named an internal field (options.SeqLen).</summary>
    [Fact]
    public void A_model_of_one_position_is_refused_naming_its_config()
    {
        string m = CopyModel();
        string config = Path.Combine(m, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"max_position_embeddings\": 512", "\"max_position_embeddings\": 1", StringComparison.Ordinal));
        AssertError(CopalProcess.Run("perplexity", "-m", m, "--data", TestData.Path("text", "tinystories", "eval.txt"), "--device", "cpu"), 1,
            $"{config}: max_position_embeddings 1: a perplexity window needs at least 2 positions (a token to predict and one before it)");
    }

    [Fact]
    public void Seqlen_beyond_the_model()
    {
        AssertError(CopalProcess.Run("perplexity", "-m", Model, "--data", TestData.Path("text", "tinystories", "eval.txt"), "--seqlen", "1024", "--device", "cpu"), 2,
            "--seqlen 1024 exceeds the model's context of 512 tokens");
    }

    [Theory]
    [InlineData("--sparsity", "0.99", "--sparsity: expected a ratio between 0 and 0.95 (e.g. 0.5; use --pattern for N:M), got 0.99")]
    [InlineData("--sparsity", "-0.1", "--sparsity: expected a ratio between 0 and 0.95 (e.g. 0.5; use --pattern for N:M), got -0.1")]
    [InlineData("--pattern", "4:4", "--pattern: expected N:M with whole numbers 0 < N < M (e.g. 2:4; use --sparsity for a ratio), got '4:4'")]
    [InlineData("--pattern", "5:4", "--pattern: expected N:M with whole numbers 0 < N < M (e.g. 2:4; use --sparsity for a ratio), got '5:4'")]
    public void Sparsity_out_of_range(string option, string value, string expected)
    {
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", Model, "-o", _temp.File("o"), "--method", "magnitude", option, value);
        AssertError(r, 2, expected);
    }

    [Fact]
    public void Out_equal_to_the_input_is_refused()
    {
        string m = CopyModel();
        string before = Hash(m);
        AssertError(CopalProcess.Run("prune", "-m", m, "-o", m, "--method", "magnitude", "--sparsity", "0.5"), 1, "is the input folder");
        Assert.Equal(before, Hash(m));
    }

    [Fact]
    public void Existing_non_empty_out_needs_force()
    {
        string outDir = _temp.File("taken");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "keep.txt"), "mine");
        AssertError(CopalProcess.Run("prune", "-m", Model, "-o", outDir, "--method", "magnitude", "--sparsity", "0.5"), 1, "exists and is not empty; pass --force");
        Assert.Equal("mine", File.ReadAllText(Path.Combine(outDir, "keep.txt")));
    }

    /// <summary>A text folder with the output inside it was refused as "the --calib file", hiding that it is a folder.</summary>
    [Fact]
    public void A_text_folder_holding_the_output_is_said_to_be_a_folder()
    {
        string folder = _temp.File("texts");
        Directory.CreateDirectory(folder);
        AssertError(CopalProcess.Run("prune", "-m", Model, "-o", Path.Combine(folder, "out"), "--method", "wanda", "--sparsity", "0.5", "--calib", folder), 1,
            $"copal: error: --calib: '{folder}' is a folder, expected a text file");
        AssertError(CopalProcess.Run("continual", "-m", Model, "--datasets", $"a={folder}", "--methods", "magnitude", "--sparsity", "0.5", "-o", Path.Combine(folder, "report")), 1,
            $"copal: error: --datasets: '{folder}' is a folder, expected a text file");
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
    }

    [Fact]
    public void Calibration_shorter_than_one_window()
    {
        string tiny = _temp.File("tiny.txt");
        File.WriteAllText(tiny, "Once upon a time.");
        AssertError(CopalProcess.Run("prune", "-m", Model, "-o", _temp.File("o"), "--method", "wanda", "--sparsity", "0.5", "--calib", tiny, "--seqlen", "64"), 2,
            "one window of --seqlen 64 needs at least 65");
    }

    // An empty path (a shell variable that was not set) is a usage error naming the option, before any path is used.
    [Fact]
    public void An_empty_output_path_is_a_usage_error_naming_the_option()
    {
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", Model, "--method", "magnitude", "--sparsity", "0.5", "-o", "");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("copal: error: -o: expected a path, got an empty string\nRun 'copal prune --help' for the options.\n", r.Stderr);
        r = CopalProcess.Run("logits", "-m", Model, "-t", "hi", "--out", "");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("copal: error: --out: expected a path, got an empty string\n", r.Stderr, StringComparison.Ordinal);
    }

    // An empty entry names no text: refused while the command line is read (an empty list once divided by zero).
    [Theory]
    [InlineData("")]
    [InlineData(",")]
    [InlineData("CALIB,")]
    public void An_empty_calibration_entry_is_a_usage_error_naming_calib(string list)
    {
        string calib = TestData.Path("text", "ptb", "ptb.valid.txt");
        string value = list.Replace("CALIB", calib, StringComparison.Ordinal);
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", Model, "-o", _temp.File("o"), "--method", "wanda", "--sparsity", "0.5", "--calib", value);
        AssertError(r, 2, $"--calib: expected text files separated by commas, none of them empty (- reads standard input), got {(value.Length == 0 ? "an empty string" : $"'{value}'")}");
        Assert.DoesNotContain("internal error", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("o")));
    }

    [Fact]
    public void Wanda_without_calibration_is_a_usage_error()
    {
        AssertError(CopalProcess.Run("prune", "-m", Model, "-o", _temp.File("o"), "--method", "wanda", "--sparsity", "0.5"), 2, "--calib is required for --method wanda");
    }

    [Fact]
    public void Unknown_method_lists_the_methods()
    {
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", Model, "-o", _temp.File("o"), "--method", "obs", "--sparsity", "0.5");
        AssertError(r, 2, "--method: expected magnitude, wanda, sparsegpt or copal, got 'obs'");
    }

    [Fact]
    public void Unknown_device_lists_the_forms()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", Model, "-n", "1", "--device", "tpu");
        AssertError(r, 2, "--device: expected auto, cpu, cuda[:N], opencl[:N] or ilgpu-cpu (`copal devices` lists this machine's), got 'tpu'");
    }

    [Fact]
    public void Invalid_utf8_in_data_names_the_byte_offset()
    {
        string bad = _temp.File("bad.txt");
        File.WriteAllBytes(bad, [.. "Once upon a time"u8, 0xFF, .. " there was"u8]);
        CopalProcess.Result r = CopalProcess.Run("perplexity", "-m", Model, "--data", bad, "--device", "cpu");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("16", r.Stderr, StringComparison.Ordinal);
    }

    // More best entries than the vocabulary has cannot be written: refused from config.json, before the model loads.
    [Fact]
    public void Logits_top_k_beyond_the_vocabulary_is_a_usage_error_before_the_model_runs()
    {
        string output = _temp.File("logits.json");
        CopalProcess.Result r = CopalProcess.Run("logits", "-m", Model, "-t", "hi", "-o", output, "--top-k", "600");
        AssertError(r, 2, "--top-k: expected at most the model's vocabulary of 512 tokens, got 600");
        Assert.DoesNotContain("loading", r.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public void An_output_file_that_is_a_folder_is_refused_before_the_model_runs()
    {
        string folder = _temp.File("a-folder");
        Directory.CreateDirectory(folder);
        CopalProcess.Result r = CopalProcess.Run("logits", "-m", Model, "-t", "hi", "-o", folder);
        AssertError(r, 1, $"-o '{folder}' is a folder; expected a file");
        Assert.DoesNotContain("loading", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void An_output_file_under_a_file_is_refused_naming_the_output()
    {
        string file = _temp.File("a-file");
        File.WriteAllText(file, "x");
        string output = Path.Combine(file, "out.json");
        CopalProcess.Result r = CopalProcess.Run("logits", "-m", Model, "-t", "hi", "-o", output);
        AssertError(r, 1, $"-o '{output}': cannot write there");
        Assert.DoesNotContain(".tmp-", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// Where nothing can be created (Linux's /proc), the message names the output as given and the system's reason,
    /// never the hidden temporary name the output is first written under, and comes before any work.
    /// </summary>
    [ProcFsTheory]
    [InlineData("logits", "cannot write there")]
    [InlineData("prune", "cannot create a folder there")]
    [InlineData("compact", "cannot create a folder there")]
    public void An_output_where_nothing_can_be_created_names_the_output_and_the_reason(string command, string expected)
    {
        string output = "/proc/copal-test-output";
        string[] args = command switch
        {
            "logits" => ["logits", "-m", Model, "-t", "hi", "-o", output + ".json"],
            "prune" => ["prune", "-m", Model, "-o", output, "--method", "magnitude", "--sparsity", "0.5", "--no-layer-error"],
            _ => ["compact", "-m", Model, "-o", output],
        };
        CopalProcess.Result r = CopalProcess.Run(args);
        AssertError(r, 1, $"-o '{args[Array.IndexOf(args, "-o") + 1]}': {expected}");
        Assert.DoesNotContain(".tmp-", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("layer 1/", r.Stderr, StringComparison.Ordinal); // no layer was pruned
    }

    [Fact]
    public void Compact_format_nm_of_an_unstructured_model_is_a_usage_error()
    {
        string pruned = _temp.File("pruned");
        Assert.Equal(0, CopalProcess.Run("prune", "-m", Model, "-o", pruned, "--method", "magnitude", "--sparsity", "0.5", "--no-layer-error").ExitCode);
        // "2:4" is the docs' other name for nm: held to 2:4 the same way, not taken as bitmask.
        foreach (string nm in new[] { "nm", "2:4" })
        {
            AssertError(CopalProcess.Run("compact", "-m", pruned, "-o", _temp.File("nm"), "--format", nm), 2, "is 50.0 % zeros but not 2:4");
            Assert.False(Directory.Exists(_temp.File("nm")));
        }
    }

    /// <summary>
    /// A linear in a dtype no compact format holds (here I32, the same 4 bytes a value as the F32 it was) leaves no
    /// --format that runs: a failure of the input (exit 1, with no pointer to the help), where --format nm of an
    /// unstructured model, which --format auto stores, is a usage error (exit 2).
    /// </summary>
    [Fact]
    public void Compact_of_a_linear_no_format_holds_is_a_failure_not_a_usage_error()
    {
        const string linear = "model.layers.0.self_attn.q_proj.weight";
        string model = CopyModel();
        CheckpointBytes.EditHeader(model, header => header[linear]!["dtype"] = "I32");
        CopalProcess.Result r = CopalProcess.Run("compact", "-m", model, "-o", _temp.File("i32"));
        AssertError(r, 1, $"'{linear}' is I32; compact storage holds F32, BF16 or F16 values only");
        Assert.DoesNotContain("--help", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("i32")));
    }

    /// <summary>
    /// prune --compact of a model with a linear in a dtype no format holds is a failure of the input (exit 1) with the
    /// load's own words, as prune without --compact: the compact formats hold what the model loads in, so dropping
    /// --compact runs nothing either. It was a usage error ("--compact: ... so this model stays dense", exit 2 and the
    /// help pointer), which advised dropping the option.
    /// </summary>
    [Fact]
    public void Prune_compact_of_a_linear_in_a_dtype_the_model_does_not_load_in_is_a_failure_as_without_it()
    {
        const string linear = "model.layers.0.self_attn.q_proj.weight";
        string model = CopyModel();
        CheckpointBytes.EditHeader(model, header => header[linear]!["dtype"] = "I32");
        string expected = $"{model}: tensor '{linear}' has dtype I32, expected F32, F16 or BF16";
        foreach (string[] compact in new[] { Array.Empty<string>(), ["--compact"] })
        {
            string output = _temp.File("pruned" + compact.Length);
            CopalProcess.Result r = CopalProcess.Run(["prune", "-m", model, "-o", output, "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu", .. compact]);
            AssertError(r, 1, expected);
            Assert.DoesNotContain("--help", r.Stderr, StringComparison.Ordinal);
            Assert.False(Directory.Exists(output));
        }
    }

    /// <summary>
    /// A standard output that cannot be written (a full disk, here /dev/full) is named: the error was the system's bare
    /// "No space left on device", which said neither what was being written nor that it was the output and not an input.
    /// </summary>
    [LinuxTheory]
    [InlineData("inspect", "--json")]
    [InlineData("tokenize", "-t", "Once upon")]
    [InlineData("generate", "-n", "2", "--device", "cpu")]
    [InlineData("logits", "-t", "Once", "-o", "-", "--device", "cpu")]
    public void A_standard_output_that_cannot_be_written_is_named(string command, params string[] options)
    {
        CopalProcess.Result r = CopalProcess.RunInShell("exec >/dev/full", [command, "-m", Model, .. options]);
        AssertError(r, 1, "copal: error: standard output: cannot write: No space left on device");
        Assert.Single(r.Stderr.Split('\n'), line => line.StartsWith("copal: error:", StringComparison.Ordinal));
    }

    /// <summary>
    /// Standard output closed when copal starts (<c>&gt;&amp;-</c>) is said to be so: the runtime's own pipe took its
    /// descriptor, read end first, and the write failed as "permission denied", which named no cause.
    /// </summary>
    [LinuxTheory]
    [InlineData("tokenize", "-t", "Once")]
    [InlineData("logits", "-t", "Once", "-o", "-", "--device", "cpu")]
    public void A_standard_output_closed_at_start_is_said_to_be_closed(string command, params string[] options)
    {
        CopalProcess.Result r = CopalProcess.RunInShell("exec >&-", [command, "-m", Model, .. options]);
        AssertError(r, 1, "copal: error: standard output: cannot write: it is not open for writing (closed when copal started, as by >&-)");
        Assert.Single(r.Stderr.Split('\n'), line => line.StartsWith("copal: error:", StringComparison.Ordinal));
    }

    /// <summary>
    /// Standard output open for reading only (<c>1&lt;FILE</c>) is said to be so: the system's "permission denied" named
    /// no cause, and saying it was closed at start would be untrue.
    /// </summary>
    [LinuxFact]
    public void A_standard_output_open_for_reading_only_is_said_to_be_so()
    {
        CopalProcess.Result r = CopalProcess.RunInShell($"exec 1<'{Path.Combine(Model, "config.json")}'", ["tokenize", "-m", Model, "-t", "Once"]);
        AssertError(r, 1, "copal: error: standard output: cannot write: it is open for reading only (as by 1<FILE)");
        Assert.Single(r.Stderr.Split('\n'), line => line.StartsWith("copal: error:", StringComparison.Ordinal));
    }

    /// <summary>
    /// Standard input that cannot be read (a folder given as <c>&lt; dir</c>) is named with the option that reads it:
    /// the error was the system's bare "Is a directory".
    /// </summary>
    [LinuxTheory]
    [InlineData("-f", "tokenize", "-f", "-")]
    [InlineData("--ids", "detokenize", "--ids", "-")]
    [InlineData("--data", "perplexity", "--data", "-", "--device", "cpu")]
    [InlineData("--calib", "prune", "--method", "wanda", "--sparsity", "0.5", "--calib", "-", "-o", "OUT", "--device", "cpu")]
    public void A_standard_input_that_cannot_be_read_is_named_with_its_option(string typed, string command, params string[] options)
    {
        string output = _temp.File("out");
        CopalProcess.Result r = CopalProcess.RunInShell($"exec <'{_temp.Path}'", [command, "-m", Model, .. options.Select(o => o == "OUT" ? output : o)]);
        AssertError(r, 1, $"copal: error: {typed}: standard input cannot be read: Is a directory");
        Assert.False(Directory.Exists(output));
    }

    /// <summary>
    /// Standard input closed when copal starts (<c>&lt;&amp;-</c>) is named as closed. The runtime's own pipe took its
    /// descriptor, so the read waited for good on a pipe whose writer is copal itself (until Ctrl-C).
    /// </summary>
    [LinuxTheory]
    [InlineData("-f", "tokenize", "-f", "-")]
    [InlineData("--data", "perplexity", "--data", "-", "--device", "cpu")]
    public void A_standard_input_closed_at_start_is_named_not_waited_on(string typed, string command, params string[] options)
    {
        CopalProcess.Result r = CopalProcess.RunInShell("exec <&-", [command, "-m", Model, .. options]);
        AssertError(r, 1, $"copal: error: {typed}: standard input cannot be read: it was closed when copal started (<&-)");
        Assert.Equal("", r.Stdout);
    }

    /// <summary>
    /// Standard input that is a pipe whose write end copal was given too (a parent that left it open) is named as
    /// such: the read could never end, and the error said standard input was closed when copal started, which it was not.
    /// </summary>
    [LinuxFact]
    public void A_standard_input_whose_write_end_copal_holds_is_named_not_said_closed()
    {
        // Opening the pipe's /proc entry for writing gives another write end of that very pipe, which exec keeps.
        CopalProcess.Result r = CopalProcess.RunInShell("exec < <(echo Once); exec 4>/proc/self/fd/0", ["tokenize", "-m", Model, "-f", "-"]);
        AssertError(r, 1, "copal: error: -f: standard input cannot be read: copal was given its pipe's write end too (descriptor 4), so it would never end");
        Assert.DoesNotContain("closed when copal started", r.Stderr, StringComparison.Ordinal);
        Assert.Equal("", r.Stdout);
    }

    /// <summary>
    /// A path in a loop of symbolic links is told as the option that gave it, before any work: outputs and --calib
    /// said only "'PATH' has too many levels of symbolic links", naming no option.
    /// </summary>
    [LinuxTheory]
    [InlineData("-o '", "prune", "-m", "MODEL", "-o", "LOOP", "--method", "magnitude", "--sparsity", "0.5")]
    [InlineData("the --calib file '", "prune", "-m", "MODEL", "-o", "OUT", "--method", "wanda", "--sparsity", "0.5", "--calib", "LOOP")]
    [InlineData("--state '", "prune", "-m", "MODEL", "-o", "OUT", "--method", "copal", "--sparsity", "0.5", "--calib", "CALIB", "--state", "LOOP")]
    [InlineData("-o '", "logits", "-m", "MODEL", "-t", "Once", "-o", "LOOP")]
    [InlineData("-o '", "compact", "-m", "MODEL", "-o", "LOOP")]
    [InlineData("-o '", "synth", "--preset", "test-tiny", "-o", "LOOP")]
    [InlineData("--temp '", "continual", "-m", "MODEL", "--datasets", "a=CALIB", "--methods", "magnitude", "--no-joint", "--sparsity", "0.5", "-o", "OUT", "--temp", "LOOP")]
    [InlineData("-m '", "generate", "-m", "LOOP", "-p", "Once")]
    [InlineData("-m '", "prune", "-m", "LOOP", "-o", "OUT", "--method", "magnitude", "--sparsity", "0.5")]
    [InlineData("--tokenizer '", "synth", "--preset", "test-tiny", "--tokenizer", "LOOP", "-o", "OUT")]
    public void A_path_in_a_loop_of_links_is_named_by_its_option(string named, params string[] args)
    {
        string loop = _temp.File("loop-a"), output = _temp.File("out");
        File.CreateSymbolicLink(loop, _temp.File("loop-b"));
        File.CreateSymbolicLink(_temp.File("loop-b"), loop);
        CopalProcess.Result r = CopalProcess.Run([.. args.Select(a => a switch
        {
            "MODEL" => Model,
            "LOOP" => loop,
            "OUT" => output,
            "CALIB" => TestData.Path("text", "tinystories", "calib.txt"),
            "a=CALIB" => "a=" + TestData.Path("text", "tinystories", "calib.txt"),
            _ => a,
        })]);
        AssertError(r, 1, $"copal: error: {named}{loop}' has too many levels of symbolic links (a loop at '");
        Assert.False(Directory.Exists(output));
    }

    /// <summary>
    /// A folder given as a link to nothing is said not to exist, with where the link leads: .NET's File.Exists is true
    /// for such a link, and it was refused as "is a file, expected a model folder" (or "a folder with tokenizer.json").
    /// </summary>
    [LinuxTheory]
    [InlineData("-m: model folder '", "generate", "-m", "LINK", "-p", "Once")]
    [InlineData("--tokenizer: folder '", "synth", "--preset", "test-tiny", "--tokenizer", "LINK", "-o", "OUT")]
    public void A_folder_given_as_a_link_to_nothing_is_said_not_to_exist(string named, params string[] args)
    {
        string dangling = _temp.File("dangling"), gone = _temp.File("moved-folder"), output = _temp.File("out");
        File.CreateSymbolicLink(dangling, gone);
        CopalProcess.Result r = CopalProcess.Run([.. args.Select(a => a switch { "LINK" => dangling, "OUT" => output, _ => a })]);
        AssertError(r, 1, $"copal: error: {named}{dangling}' does not exist (a link to '{gone}', which does not exist)");
        Assert.False(Directory.Exists(output));
    }

    internal static string Hash(string dir) => string.Join(";", Directory.GetFiles(dir).Order(StringComparer.Ordinal)
        .Select(f => Path.GetFileName(f) + ":" + Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f)))));

    public void Dispose() => _temp.Dispose();
}
