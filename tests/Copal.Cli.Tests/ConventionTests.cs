using System.Text.Json;
using System.Text.RegularExpressions;
using Copal.Tensors;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>A 2:4 magnitude-pruned stories260K and its compact form, made once for the convention tests.</summary>
public sealed class PrunedModels : IDisposable
{
    public PrunedModels()
    {
        Root = Directory.CreateTempSubdirectory("copal-conv-").FullName;
        Pruned = Path.Combine(Root, "pruned");
        Compact = Path.Combine(Root, "compact");
        CopalProcess.Result p = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", Pruned, "--method", "magnitude", "--pattern", "2:4", "--device", "cpu", "--json");
        Assert.True(p.ExitCode == 0, p.Stderr);
        CopalProcess.Result c = CopalProcess.Run("compact", Pruned, "-o", Compact);
        Assert.True(c.ExitCode == 0, c.Stderr);
        CompactOutput = c.Stdout;
    }

    public string Root { get; }
    public string Pruned { get; }
    public string Compact { get; }

    /// <summary>What <c>copal compact</c> printed.</summary>
    public string CompactOutput { get; }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>One CLI convention (docs/cli.md): -m everywhere, help, '-' for stdin/stdout, readable text and JSON.</summary>
public sealed class ConventionTests(PrunedModels models) : IClassFixture<PrunedModels>, IDisposable
{
    private readonly TempDir _temp = new("copal-conv-");

    private static string Model => TestData.Stories260K;

    // Item 13: -m/--model everywhere; the positional form stays as an alias.
    [Fact]
    public void Inspect_takes_the_model_option()
    {
        foreach (string flag in new[] { "-m", "--model" })
        {
            CopalProcess.Result r = CopalProcess.Run("inspect", flag, Model, "--json");
            Assert.True(r.ExitCode == 0, r.Stderr);
            using JsonDocument doc = JsonDocument.Parse(r.Stdout);
            Assert.Equal(260_032, doc.RootElement.GetProperty("parameters").GetInt64());
        }
    }

    [Fact]
    public void Inspect_counts_a_compact_models_parameters_by_their_dense_shapes()
    {
        CopalProcess.Result r = CopalProcess.Run("inspect", "-m", models.Compact, "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        // The model's parameters, as dense: not the elements of the values, index bytes and masks that store them.
        Assert.Equal(260_032, doc.RootElement.GetProperty("parameters").GetInt64());
        Assert.Equal(35, doc.RootElement.GetProperty("sparse_weights").GetInt32());
        Assert.Equal(226_560 / 2, doc.RootElement.GetProperty("sparse_stored_values").GetInt64()); // 2:4 keeps half of 5 × 45,312 linear weights
        CopalProcess.Result text = CopalProcess.Run("inspect", "-m", models.Compact);
        Assert.Contains("260,032 parameters", text.Stdout);
        Assert.Contains("compact: 35 sparse linears, 113,280 values kept", text.Stdout);
    }

    [Fact]
    public void Compact_and_densify_take_the_model_option()
    {
        string compact = _temp.File("c");
        CopalProcess.Result c = CopalProcess.Run("compact", "-m", models.Pruned, "-o", compact, "--json");
        Assert.True(c.ExitCode == 0, c.Stderr);
        string dense = _temp.File("d");
        CopalProcess.Result d = CopalProcess.Run("densify", "--model", compact, "-o", dense, "--json");
        Assert.True(d.ExitCode == 0, d.Stderr);
        Assert.Equal(BadInputTests.Hash(models.Pruned).Split(';').Single(x => x.StartsWith("model.safetensors", StringComparison.Ordinal)),
            BadInputTests.Hash(dense).Split(';').Single(x => x.StartsWith("model.safetensors", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_model_given_twice_differently_or_not_at_all_is_a_usage_error()
    {
        CopalProcess.Result both = CopalProcess.Run("inspect", Model, "-m", models.Pruned);
        Assert.True(both.ExitCode == 2, both.Stderr);
        Assert.Contains("-m", both.Stderr, StringComparison.Ordinal);
        CopalProcess.Result none = CopalProcess.Run("compact", "-o", _temp.File("x"));
        Assert.True(none.ExitCode == 2, none.Stderr);
        Assert.Contains("-m/--model", none.Stderr, StringComparison.Ordinal);
    }

    // The same folder however spelled: a trailing separator, "..", a symbolic link.
    [Fact]
    public void The_model_given_twice_as_the_same_folder_however_spelled_is_accepted()
    {
        string link = _temp.File("link");
        Directory.CreateSymbolicLink(link, Model);
        string[] spellings = [Model + Path.DirectorySeparatorChar, Path.Combine(Model, "..", Path.GetFileName(Model)), link, Path.Combine(Model, ".")];
        foreach (string other in spellings)
        {
            CopalProcess.Result r = CopalProcess.Run("inspect", Model, "-m", other, "--json");
            Assert.True(r.ExitCode == 0, $"{other}: exit {r.ExitCode}; stderr: {r.Stderr}");
        }
        string prunedLink = _temp.File("pruned-link");
        Directory.CreateSymbolicLink(prunedLink, models.Pruned);
        CopalProcess.Result c = CopalProcess.Run("compact", prunedLink, "-m", models.Pruned + Path.DirectorySeparatorChar, "-o", _temp.File("c"), "--json");
        Assert.True(c.ExitCode == 0, c.Stderr);
    }

    [Fact]
    public void Inspect_of_a_config_json_says_what_it_expected()
    {
        CopalProcess.Result r = CopalProcess.Run("inspect", "-m", Path.Combine(Model, "config.json"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("config.json: is not a shard index: it has no 'weight_map' (expected a model folder, a .safetensors file or a model.safetensors.index.json)", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Compact_of_a_model_with_no_sparse_linear_and_densify_of_a_dense_one_are_refused()
    {
        // Each would write a copy of its input under a name that says it was converted.
        CopalProcess.Result c = CopalProcess.Run("compact", "-m", Model, "-o", _temp.File("c"));
        Assert.Equal(1, c.ExitCode); // the input is wrong for the command, not an option
        Assert.Contains("no linear would be stored compact: each is dense, or under 25 % zeros", c.Stderr, StringComparison.Ordinal);
        CopalProcess.Result d = CopalProcess.Run("densify", "-m", models.Pruned, "-o", _temp.File("d"));
        Assert.Equal(1, d.ExitCode);
        Assert.DoesNotContain("--help", d.Stderr, StringComparison.Ordinal);
        Assert.Contains("the checkpoint is not compact (no copal.sparse.* entry): there is nothing to densify", d.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("c")));
        Assert.False(Directory.Exists(_temp.File("d")));
    }

    /// <summary>
    /// sparse-formats.md: prune on a compact checkpoint "stops before any work and names copal densify". It stopped only
    /// once the calibration text was tokenized and sampled (the notice of its windows came first), and named densify in
    /// the older positional form that cli.md keeps only as an alias.
    /// </summary>
    [Fact]
    public void Prune_of_a_compact_checkpoint_stops_before_calibrating_and_names_densify_with_its_options()
    {
        string o = _temp.File("again");
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", models.Compact, "--method", "wanda", "--sparsity", "0.5",
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--nsamples", "2", "--seqlen", "64", "--device", "cpu", "-o", o);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("is a compact sparse checkpoint", r.Stderr, StringComparison.Ordinal);
        Assert.Contains($"run `copal densify -m {models.Compact} -o DIR` and prune DIR", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("copal: calibration", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(o));
    }

    [Fact]
    public void Prune_compact_with_too_little_sparsity_to_compact_writes_the_pruned_model_dense_and_says_so()
    {
        string o = _temp.File("p20");
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", Model, "--method", "magnitude", "--sparsity", "0.2", "--compact", "-o", o);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("copal prune --compact: every linear stays dense", r.Stderr, StringComparison.Ordinal);
        using var checkpoint = Copal.Tensors.Safetensors.SafetensorsCheckpoint.Open(o);
        Assert.Empty(Copal.Tensors.Sparse.SparseTensorCodec.SparseNames(checkpoint.Metadata));
        Assert.True(File.Exists(Path.Combine(o, "prune-report.json")));
        Assert.Empty(Directory.GetDirectories(_temp.Path, ".p20*"));
    }

    // Item 14: help.
    [Theory]
    [InlineData]
    [InlineData("help")]
    public void No_command_or_help_prints_the_commands_on_stdout(params string[] args)
    {
        CopalProcess.Result r = CopalProcess.Run(args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("Usage:", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("generate", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("densify", r.Stdout, StringComparison.Ordinal);
        Assert.Equal("", r.Stderr);
    }

    [Theory]
    [InlineData("--sparsity", "help", "prune")]
    [InlineData("--only", "help", "bench", "kernels")]
    public void Help_with_a_command_prints_its_options(string expected, params string[] args)
    {
        CopalProcess.Result r = CopalProcess.Run(args);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains(expected, r.Stdout, StringComparison.Ordinal);
    }

    /// <summary>
    /// "-h" or "--help" given as an option's value is that value, not a request for help: `generate -p -h` (the prompt
    /// "-h", no -m) printed System.CommandLine's raw error and the whole help and exited 1, because the raw arguments were
    /// searched for "-h". Help given as an option, beside an unknown one, still shows help.
    /// </summary>
    [Theory]
    [InlineData("-h")]
    [InlineData("--help")]
    public void Help_given_as_an_options_value_is_a_value(string value)
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-p", value);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.StartsWith("copal: error: the option -m/--model is required", r.Stderr, StringComparison.Ordinal);
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void Help_beside_an_unknown_option_still_shows_help()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "--no-such-option", "--help");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("--model", r.Stdout, StringComparison.Ordinal);
    }

    // An enum's default was shown by its C# name ("[default: Raw]"), a spelling the docs never use.
    [Fact]
    public void Help_shows_each_default_as_the_docs_spell_it()
    {
        CopalProcess.Result r = CopalProcess.Run("perplexity", "--help");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("--layout <raw|joined-lines|documents>", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("(TinyStories) [default: raw]", string.Join('\n', HelpRows(r.Stdout)), StringComparison.Ordinal);
        Assert.DoesNotContain("[default: Raw]", r.Stdout, StringComparison.Ordinal);
    }

    // --mmap's text ended "Default here: on [default: on]": the default said twice, once by the text and once by the parser.
    [Theory]
    [InlineData("on", "generate")]
    [InlineData("auto", "serve")]
    [InlineData("auto", "bench", "serve")]
    public void Help_states_the_mmap_default_once(string expected, params string[] command)
    {
        CopalProcess.Result r = CopalProcess.Run([.. command, "--help"]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        string line = Assert.Single(HelpRows(r.Stdout), l => l.StartsWith("--mmap", StringComparison.Ordinal));
        Assert.EndsWith($"[default: {expected}]", line.TrimEnd());
        Assert.Single(Regex.Matches(line, "default", RegexOptions.IgnoreCase));
    }

    /// <summary>
    /// Help sent to a pipe or a file (as here) was not wrapped at all: --mmap's, --upstream's and --tool-call-parser's
    /// descriptions were single lines of 400 to 560 characters. Every command's help fits the width it is wrapped to.
    /// </summary>
    [Fact]
    public void Help_sent_to_no_terminal_fits_its_width_for_every_command()
    {
        var tooWide = new List<string>();
        int commands = 0;
        foreach (string[] path in CommandPaths(Program.CreateRoot(), []))
        {
            CopalProcess.Result r = CopalProcess.Run([.. path, "--help"]);
            Assert.True(r.ExitCode == 0, r.Stderr);
            commands++;
            // System.CommandLine leaves a space at the end of a wrapped line; the text is what must fit.
            tooWide.AddRange(r.Stdout.Split('\n').Where(l => l.TrimEnd().Length > Program.RedirectedHelpWidth).Select(l => $"copal {string.Join(' ', path)}: {l}"));
        }
        Assert.True(commands >= 17, $"only {commands} commands' help was read");
        Assert.True(tooWide.Count == 0, string.Join('\n', tooWide));
    }

    private static IEnumerable<string[]> CommandPaths(System.CommandLine.Command command, string[] path)
    {
        yield return path;
        foreach (System.CommandLine.Command sub in command.Subcommands)
        {
            foreach (string[] p in CommandPaths(sub, [.. path, sub.Name]))
            {
                yield return p;
            }
        }
    }

    /// <summary>
    /// The rows of a help text's tables (options, arguments, commands), each with its description's wrapped lines
    /// joined again: a row starts two spaces in, and a line further in goes on with the row above.
    /// </summary>
    private static List<string> HelpRows(string help)
    {
        var rows = new List<string>();
        foreach (string line in help.Split('\n'))
        {
            if (line.StartsWith("   ", StringComparison.Ordinal) && rows.Count > 0)
            {
                rows[^1] += " " + line.Trim();
            }
            else if (line.StartsWith("  ", StringComparison.Ordinal))
            {
                rows.Add(line.Trim());
            }
        }
        return rows;
    }

    [Fact]
    public void Help_for_an_unknown_command_is_a_usage_error()
    {
        CopalProcess.Result r = CopalProcess.Run("help", "frobnicate");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("copal help: unknown command 'frobnicate'; the commands are inspect, tokenize", r.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("copal help: prune has no command 'extra'; it takes options only (copal help prune)", "prune", "extra")]
    [InlineData("copal help: bench has no command 'kernel'; its commands are kernels or serve", "bench", "kernel")]
    public void Help_names_the_word_after_a_known_command_that_names_nothing(string expected, params string[] path)
    {
        // Not "unknown command 'prune extra'" and the top-level commands, which prune is one of.
        CopalProcess.Result r = CopalProcess.Run(["help", .. path]);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("copal --help", "--bogus")]
    [InlineData("Run 'copal --help'", "frobnicate")]
    [InlineData("copal bench kernels --help", "bench", "kernels", "--only", "x")]
    [InlineData("copal generate --help", "generate")]
    public void Usage_errors_point_at_the_right_help(string expected, params string[] args)
    {
        CopalProcess.Result r = CopalProcess.Run(args);
        Assert.Equal(2, r.ExitCode);
        Assert.DoesNotContain("copal  ", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
    }

    public static TheoryData<string, string, string[]> UsageErrors
    {
        get
        {
            string model = TestData.Stories260K;
            string calib = TestData.Path("text", "tinystories", "calib.txt");
            string outDir = Path.Combine(Path.GetTempPath(), $"copal-never-written-{Guid.NewGuid():N}"); // no other run's
            return new()
            {
                { "copal generate", "--top-k 5 filters the tokens", ["generate", "-m", model, "--top-k", "5"] },
                { "copal prune", "give exactly one of --sparsity", ["prune", "-m", model, "-o", outDir, "--method", "magnitude"] },
                { "copal tokenize", "give exactly one of --text or --file", ["tokenize", "-m", model] },
                { "copal tokenize", "give exactly one of --text or --file", ["tokenize", "-m", model, "-t", "a", "-f", calib] },
                { "copal inspect", "give the model with -m/--model", ["inspect"] },
                { "copal prune", "--update applies only to --method copal (got --method wanda)",
                    ["prune", "-m", model, "-o", outDir, "--calib", calib, "--sparsity", "0.5", "--update"] },
                { "copal prune", "--decay, --mask apply only to --method copal (got --method sparsegpt)",
                    ["prune", "-m", model, "-o", outDir, "--method", "sparsegpt", "--calib", calib, "--sparsity", "0.5", "--decay", "0.5", "--mask", "fixed"] },
                { "copal prune", "--include-embeddings applies only to --method magnitude, wanda or sparsegpt (got --method copal): COPAL keeps its state only for the decoder layers' linears",
                    ["prune", "-m", model, "-o", outDir, "--method", "copal", "--calib", calib, "--sparsity", "0.5", "--include-embeddings"] },
                // Options the method would ignore are refused, as the COPAL options are with another method.
                { "copal prune", "--true-sequential applies only to --method wanda, sparsegpt or copal (got --method magnitude)",
                    ["prune", "-m", model, "-o", outDir, "--method", "magnitude", "--sparsity", "0.5", "--true-sequential"] },
                { "copal prune", "--seed applies only with --calib (--method magnitude without it draws no calibration windows)",
                    ["prune", "-m", model, "-o", outDir, "--method", "magnitude", "--sparsity", "0.5", "--seed", "3"] },
                { "copal prune", "--nsamples, --seqlen apply only with --calib (--method magnitude without it draws no calibration windows)",
                    ["prune", "-m", model, "-o", outDir, "--method", "magnitude", "--sparsity", "0.5", "--nsamples", "4", "--seqlen", "8"] },
                { "copal prune", "--calib with --method magnitude only measures the layers' output errors, which --no-layer-error skips; give one of them",
                    ["prune", "-m", model, "-o", outDir, "--method", "magnitude", "--sparsity", "0.5", "--calib", calib, "--no-layer-error"] },
                { "copal", "unknown command 'foo'; the commands are inspect, tokenize", ["foo"] },
                { "copal prune", "the options -m/--model and -o/--out are required", ["prune"] },
                { "copal prune", "--sparsity: expected", ["prune", "--sparsity", "2"] },
                { "copal prune", "unknown option '--bogus'", ["prune", "--sparsity", "2", "--bogus"] },
                // inspect, compact and densify also take the model positionally: a misspelled option is not taken for it.
                { "copal compact", "unknown option '--frmat'", ["compact", "-m", model, "-o", outDir, "--frmat", "nm"] },
                { "copal compact", "unknown option '--jsn'", ["compact", "--jsn", "-o", outDir] },
                { "copal densify", "unknown option '--jsn'", ["densify", "-m", model, "-o", outDir, "--jsn"] },
                { "copal inspect", "unknown option '--foo'", ["inspect", "-m", model, "--json", "--foo"] },
                { "copal inspect", "unknown option '-j'", ["inspect", "-j", model] },
            };
        }
    }

    // Every usage error is one line and the pointer at the help of the command reached (docs/cli.md).
    [Theory]
    [MemberData(nameof(UsageErrors))]
    public void A_usage_error_is_one_line_and_the_help_pointer(string command, string expected, string[] args)
    {
        CopalProcess.Result r = CopalProcess.Run(args);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        string[] lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 2, r.Stderr);
        Assert.StartsWith("copal: error: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(expected, lines[0], StringComparison.Ordinal);
        Assert.Equal($"Run '{command} --help' for the options.", lines[1]);
        Assert.Equal("", r.Stdout);
    }

    // Usage errors come before any check of a path: --out inside --resume is not reached when --resume cannot apply.
    [Fact]
    public void A_usage_error_comes_before_the_path_checks()
    {
        string outDir = _temp.File("o");
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", Model, "-o", outDir, "--method", "wanda", "--sparsity", "0.5",
            "--calib", TestData.Path("text", "tinystories", "calib.txt"), "--resume", _temp.Path);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains("--resume applies only to --method copal", r.Stderr, StringComparison.Ordinal);
        CopalProcess.Result nothing = CopalProcess.Run("prune", "-m", _temp.File("absent"), "-o", outDir, "--method", "magnitude");
        Assert.True(nothing.ExitCode == 2, $"exit {nothing.ExitCode}; stderr: {nothing.Stderr}");
        Assert.Contains("give exactly one of --sparsity", nothing.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    // Item 15: '-' is stdin or stdout.
    [Fact]
    public void Tokenize_reads_stdin_for_a_dash()
    {
        const string text = "Lily saw a big red ball.\nShe was happy.";
        CopalProcess.Result fromText = CopalProcess.Run("tokenize", "-m", Model, "--text", text);
        CopalProcess.Result fromStdin = CopalProcess.RunWithInput(text, "tokenize", "-m", Model, "-f", "-");
        Assert.True(fromStdin.ExitCode == 0, fromStdin.Stderr);
        Assert.Equal(fromText.Stdout, fromStdin.Stdout);
    }

    [Fact]
    public void Detokenize_reads_the_ids_from_stdin_for_a_dash()
    {
        CopalProcess.Result ids = CopalProcess.Run("tokenize", "-m", Model, "--text", "Lily saw a big red ball.");
        CopalProcess.Result text = CopalProcess.RunWithInput(ids.Stdout, "detokenize", "-m", Model, "--ids", "-");
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Equal("Lily saw a big red ball.", text.Stdout.TrimEnd('\n'));
    }

    [Fact]
    public void Logits_writes_stdout_for_a_dash()
    {
        // The child runs in the repository root: a file named '-' there would be the bug.
        string[] strays = [Path.Combine(TestData.RepoRoot, "-"), Path.Combine(TestData.RepoRoot, "-.tmp")];
        try
        {
            CopalProcess.Result r = CopalProcess.Run("logits", "-m", Model, "--text", "Once upon", "-o", "-", "--top-k", "3", "--device", "cpu");
            Assert.True(r.ExitCode == 0, r.Stderr);
            using JsonDocument doc = JsonDocument.Parse(r.Stdout);
            Assert.Equal(doc.RootElement.GetProperty("ids").GetArrayLength(), doc.RootElement.GetProperty("logits").GetArrayLength());
            Assert.All(strays, f => Assert.False(File.Exists(f), f));
        }
        finally
        {
            Array.ForEach(strays, File.Delete);
        }
    }

    [Fact]
    public void Perplexity_reads_stdin_for_a_dash()
    {
        string[] common = ["perplexity", "-m", Model, "--seqlen", "128", "--limit-chunks", "2", "--device", "cpu", "--json"];
        string text = File.ReadAllText(TestData.Path("text", "tinystories", "eval.txt"));
        CopalProcess.Result file = CopalProcess.Run([.. common, "--data", TestData.Path("text", "tinystories", "eval.txt")]);
        CopalProcess.Result stdin = CopalProcess.RunWithInput(text, [.. common, "--data", "-"]);
        Assert.True(stdin.ExitCode == 0, stdin.Stderr);
        using JsonDocument a = JsonDocument.Parse(file.Stdout);
        using JsonDocument b = JsonDocument.Parse(stdin.Stdout);
        Assert.Equal(a.RootElement.GetProperty("ppl").GetDouble(), b.RootElement.GetProperty("ppl").GetDouble());
    }

    [Fact]
    public void Prune_reads_the_calibration_text_from_stdin_for_a_dash()
    {
        string calib = TestData.Path("text", "tinystories", "calib.txt");
        string Prune(string name, string calibArg, string? stdin)
        {
            string outDir = _temp.File(name);
            string[] args = ["prune", "-m", Model, "-o", outDir, "--method", "wanda", "--sparsity", "0.5", "--calib", calibArg,
                "--nsamples", "4", "--seqlen", "64", "--no-layer-error", "--device", "cpu", "--json"];
            CopalProcess.Result r = stdin is null ? CopalProcess.Run(args) : CopalProcess.RunWithInput(stdin, args);
            Assert.True(r.ExitCode == 0, r.Stderr);
            return outDir;
        }
        string fromFile = Prune("file", calib, null);
        string fromStdin = Prune("stdin", "-", File.ReadAllText(calib));
        string Weights(string dir) => BadInputTests.Hash(dir).Split(';').Single(x => x.StartsWith("model.safetensors", StringComparison.Ordinal));
        Assert.Equal(Weights(fromFile), Weights(fromStdin));
        using JsonDocument report = JsonDocument.Parse(File.ReadAllText(Path.Combine(fromStdin, "prune-report.json")));
        Assert.Contains("standard input", report.RootElement.GetRawText(), StringComparison.Ordinal);
    }

    // Where '-' is not one of the places above, it is refused in one line rather than looked for as a file named '-'.
    [Theory]
    [InlineData("--calib: standard input ('-') can be given once", "prune", "-m", "MODEL", "-o", "OUT", "--sparsity", "0.5", "--calib", "-,-")]
    [InlineData("--datasets: standard input ('-') is not accepted here; give files", "continual", "-m", "MODEL", "-o", "OUT", "--sparsity", "0.5", "--datasets", "a=-")]
    [InlineData("--config: standard input ('-') is not accepted here; give a file", "synth", "--config", "-", "-o", "OUT")]
    [InlineData("-m: standard input ('-') is not accepted here; give a model folder", "generate", "-m", "-")]
    [InlineData("--compare: standard input ('-') is not accepted here; give a model folder", "perplexity", "-m", "MODEL", "--data", "-", "--compare", "-")]
    [InlineData("model: standard input ('-') is not accepted here; give a model folder", "inspect", "-")]
    // Refused as the command line is read, before any file is looked at: a missing --data file does not come first.
    [InlineData("-m: standard input ('-') is not accepted here; give a model folder", "perplexity", "-m", "-", "--data", "no-such-file.txt")]
    [InlineData("--compare: standard input ('-') is not accepted here; give a model folder", "perplexity", "-m", "MODEL", "--data", "no-such-file.txt", "--compare", "-")]
    [InlineData("--tokenizer: standard input ('-') is not accepted here; give a folder with tokenizer.json", "synth", "--preset", "test-tiny", "-o", "OUT", "--tokenizer", "-")]
    [InlineData("-m: standard input ('-') is not accepted here; give a model folder", "inspect", "-m", "-")]
    [InlineData("--resume: standard input ('-') is not accepted here; give the folder of the step to resume", "prune", "-m", "MODEL", "-o", "OUT", "--method", "copal", "--sparsity", "0.5", "--calib", "CALIB", "--resume", "-")]
    public void A_dash_where_standard_input_is_not_read_is_refused(string expected, params string[] args)
    {
        string outDir = _temp.File("o");
        CopalProcess.Result r = CopalProcess.RunWithInput("Once upon a time.\n", [.. args.Select(a => a == "MODEL" ? Model : a == "OUT" ? outDir : a)]);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Equal(2, r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.StartsWith($"copal: error: {expected}", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    // Item 16: tokens as text, not \uXXXX escapes.
    [Fact]
    public void Tokenize_verbose_prints_tokens_as_text()
    {
        CopalProcess.Result r = CopalProcess.Run("tokenize", "-m", Model, "--text", "Once", "-v");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("\"<s>\"", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"\u2581Once\"", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", r.Stdout, StringComparison.Ordinal);
        CopalProcess.Result json = CopalProcess.Run("tokenize", "-m", Model, "--text", "Once", "-v", "--json");
        Assert.Contains("\"\u2581Once\"", json.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", json.Stdout, StringComparison.Ordinal);
    }

    // Item 17: plain sizes; inspect summarizes a compact model's metadata.
    [Fact]
    public void Compact_says_the_size_plainly()
    {
        Assert.Matches(@"\d+\.\d % of the dense size \(\d+\.\d % smaller\)", models.CompactOutput);
        // A size under 1 MiB is in KiB (stories260K's checkpoint is 1015.8 KiB), not rounded to "1.0 MiB" or "0.0 MiB".
        Assert.Matches(@"\d+\.\d KiB → \d+\.\d KiB", models.CompactOutput);
    }

    [Fact]
    public void Inspect_summarizes_long_metadata_and_json_has_it_all()
    {
        CopalProcess.Result r = CopalProcess.Run("inspect", "-m", models.Compact);
        Assert.True(r.ExitCode == 0, r.Stderr);
        string metadata = r.Stdout.Split('\n').Single(l => l.StartsWith("metadata:", StringComparison.Ordinal));
        Assert.True(metadata.Length < 400, metadata);
        Assert.Contains("35 compact linears", metadata, StringComparison.Ordinal);
        Assert.Contains("--json", metadata, StringComparison.Ordinal);
        // The small U8 tensors (the 2:4 masks) show their size: in KiB, not "U8: 0.0 MiB".
        string totals = r.Stdout.Split('\n').Single(l => l.Contains(" parameters (", StringComparison.Ordinal));
        Assert.Matches(@"U8: \d+\.\d KiB", totals);
        Assert.DoesNotContain(" 0.0 MiB", totals, StringComparison.Ordinal);
        CopalProcess.Result json = CopalProcess.Run("inspect", "-m", models.Compact, "--json");
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        Assert.Equal(39, doc.RootElement.GetProperty("metadata").EnumerateObject().Count());
    }

    /// <summary>
    /// Tensor names and metadata are text from the file: a line break or an escape sequence in one is shown escaped,
    /// so an error stays one line, inspect's listing and metadata line stay theirs, and nothing reaches the terminal
    /// as a command (--json has the text as it is).
    /// </summary>
    [Fact]
    public void Control_characters_from_a_file_are_escaped_in_errors_and_in_inspect()
    {
        string named = _temp.File("named.safetensors");
        using (var writer = Copal.Tensors.Safetensors.SafetensorsWriter.Create(named, [new("a\nb\u001b[31m", Copal.Tensors.DType.F32, [1])],
                   new Dictionary<string, string> { ["note"] = "one\ntwo" }))
        {
            writer.Write("a\nb\u001b[31m", new byte[4]);
            writer.Commit();
        }
        CopalProcess.Result r = CopalProcess.Run("inspect", "-m", named);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("a\\nb\\u001B[31m  F32   [1]\n", r.Stdout, StringComparison.Ordinal);
        Assert.Contains("metadata: note=one\\ntwo; 1 entry with --json\n", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', r.Stdout);

        string damaged = _temp.File("damaged.safetensors");
        byte[] header = System.Text.Encoding.UTF8.GetBytes("{\"x\\ny\\u001b\":{\"dtype\":\"F9\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        File.WriteAllBytes(damaged, [.. BitConverter.GetBytes((long)header.Length), .. header, 0, 0, 0, 0]);
        r = CopalProcess.Run("inspect", "-m", damaged);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal($"copal: error: {damaged}: tensor 'x\\ny\\u001B' has unknown dtype 'F9', expected one of F32, F16, BF16, F64, I8, U8, I16, I32, I64, BOOL (at byte 31)\n",
            r.Stderr);
    }

    /// <summary>
    /// inspect's config line quotes config.json when it cannot be read as a model's (an unknown architecture): that
    /// text is escaped as the tensor names are; it reached the terminal as it was, escape sequence and line break too.
    /// </summary>
    [Fact]
    public void Inspect_escapes_control_characters_in_its_config_line()
    {
        string model = TestData.CopyOfStories260K(_temp.File("odd-architecture"));
        string config = Path.Combine(model, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"LlamaForCausalLM\"", "\"Llama\\u001b[31mX\\nY\"", StringComparison.Ordinal));
        CopalProcess.Result r = CopalProcess.Run("inspect", "-m", model);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains($"config: {config}: architecture 'Llama\\u001B[31mX\\nY' is not supported; ", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', r.Stdout);
    }

    // Item 18: the prefill figure says that it includes JIT compilation, and so does the decode figure.
    [Fact]
    public void Generate_labels_the_first_call_as_including_jit()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", Model, "-n", "3", "--device", "cpu");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Matches(@"prefill 1 tokens? at [\d.]+ tok/s \(first call, includes [\d.]+ s of JIT compilation\), decode at [\d.]+ tok/s \(includes [\d.]+ s of JIT compilation\)", r.Stderr);
        CopalProcess.Result json = CopalProcess.Run("generate", "-m", Model, "-n", "3", "--device", "cpu", "--json");
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        Assert.True(doc.RootElement.GetProperty("prefill_jit_seconds").GetDouble() >= 0);
        Assert.True(doc.RootElement.GetProperty("decode_jit_seconds").GetDouble() >= 0);
    }

    /// <summary>devices --json: a row that only says why a kind is absent has null for what no device has, not −1, 0 or "".</summary>
    [Fact]
    public void Devices_json_says_null_where_there_is_no_device()
    {
        CopalProcess.Result r = CopalProcess.Run("devices", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        foreach (JsonElement row in doc.RootElement.EnumerateArray())
        {
            bool absent = row.GetProperty("index").ValueKind == JsonValueKind.Null;
            foreach (string field in new[] { "name", "type", "memory_bytes", "compute_units", "driver_version", "spec" })
            {
                Assert.True(absent == (row.GetProperty(field).ValueKind == JsonValueKind.Null), $"{row.GetProperty("kind")}: {field} = {row.GetProperty(field)}");
            }
            Assert.True(!absent || row.GetProperty("error").GetString()!.Length > 0);
        }
        Assert.Contains(doc.RootElement.EnumerateArray(), row => row.GetProperty("kind").GetString() == "cpu" && row.GetProperty("index").GetInt32() == 0);
    }

    /// <summary>
    /// devices gives each device's memory as every other size is given (ByteSize): it wrote GiB with one decimal, so
    /// ilgpu-cpu in a 150 MiB cgroup read "0.1 GiB", where its refusals said 150.0 MiB.
    /// </summary>
    [Fact]
    public void Devices_gives_memory_as_every_size_is_given()
    {
        CopalProcess.Result text = CopalProcess.Run("devices");
        CopalProcess.Result json = CopalProcess.Run("devices", "--json");
        Assert.True(text.ExitCode == 0 && json.ExitCode == 0, text.Stderr + json.Stderr);
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        foreach (JsonElement row in doc.RootElement.EnumerateArray().Where(r => r.GetProperty("index").ValueKind != JsonValueKind.Null))
        {
            string spec = row.GetProperty("spec").GetString()!, name = row.GetProperty("name").GetString()!;
            string line = text.Stdout.Split('\n').Single(l => l.StartsWith(spec + " ", StringComparison.Ordinal));
            Assert.StartsWith($"{spec,-9} {name} [{row.GetProperty("type").GetString()}], {ByteSize.Format(row.GetProperty("memory_bytes").GetInt64())}", line, StringComparison.Ordinal);
        }
    }

    /// <summary>--json's text is the continuation as the plain run prints it after the prompt: a first word keeps its leading space.</summary>
    [Fact]
    public void Generate_json_text_continues_the_prompt_as_the_plain_output_does()
    {
        CopalProcess.Result json = CopalProcess.Run("generate", "-m", Model, "-p", "Once upon", "-n", "12", "--device", "cpu", "--json");
        Assert.True(json.ExitCode == 0, json.Stderr);
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        string text = doc.RootElement.GetProperty("text").GetString()!;
        Assert.StartsWith(" ", text, StringComparison.Ordinal);
        CopalProcess.Result plain = CopalProcess.Run("generate", "-m", Model, "-p", "Once upon", "-n", "12", "--device", "cpu");
        Assert.Equal(plain.Stdout.TrimEnd('\n'), "Once upon" + text);
    }

    /// <summary>One token needs no decode step: its decode speed does not exist, so JSON says null and the text says so, not 0.</summary>
    [Fact]
    public void Generate_of_one_token_reports_no_decode_speed()
    {
        CopalProcess.Result json = CopalProcess.Run("generate", "-m", Model, "-n", "1", "--device", "cpu", "--json");
        Assert.True(json.ExitCode == 0, json.Stderr);
        using JsonDocument doc = JsonDocument.Parse(json.Stdout);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("decode_tokens_per_second").ValueKind);
        Assert.True(doc.RootElement.GetProperty("prefill_tokens_per_second").GetDouble() > 0);
        CopalProcess.Result text = CopalProcess.Run("generate", "-m", Model, "-n", "1", "--device", "cpu");
        Assert.Contains("decode not run (no token after the first)", text.Stderr, StringComparison.Ordinal);
    }

    public void Dispose() => _temp.Dispose();
}
