using System.Text.Json;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// Exit codes and messages (docs/cli.md): 2 for a bad option value, naming the option as typed; 1 for a failure; no
/// .NET internals in any message.
/// </summary>
public sealed class ExitCodeTests : IDisposable
{
    private readonly TempDir _temp = new("copal-exit-");

    private static string Model => TestData.Stories260K;

    private static string EvalText => TestData.Path("text", "tinystories", "eval.txt");

    private static readonly string[] s_internals = ["(Parameter", "Actual value was", "System.", "Copal.", "Nullable", "internal error", "   at "];

    private static void AssertClean(CopalProcess.Result r)
    {
        foreach (string s in s_internals)
        {
            Assert.DoesNotContain(s, r.Stderr, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("--sparsity", "1.5", "expected a ratio between 0 and 0.95")]
    [InlineData("--sparsity", "-0.1", "expected a ratio between 0 and 0.95")]
    [InlineData("--sparsity", "2:4", "use --pattern for N:M")]
    [InlineData("--method", "foo", "expected magnitude, wanda, sparsegpt")]
    [InlineData("--layers", "9", "within 0..4")]
    [InlineData("--device", "gpu", "expected auto, cpu")]
    [InlineData("--pattern", "3:2", "0 < N < M")]
    [InlineData("--pattern", "0:4", "0 < N < M")]
    [InlineData("--pattern", "abc", "N:M")]
    [InlineData("--pattern", "0.5", "use --sparsity for a ratio")]
    [InlineData("--nsamples", "0", "expected an integer ≥ 1")]
    [InlineData("--seqlen", "1", "expected an integer ≥ 2")]
    public void Bad_prune_option_values_exit_2_naming_the_option(string option, string value, string expected)
    {
        string outDir = _temp.File("o");
        var args = new List<string> { "prune", "-m", Model, "-o", outDir };
        if (option != "--method")
        {
            args.AddRange(["--method", "magnitude"]);
        }
        if (option is not ("--sparsity" or "--pattern"))
        {
            args.AddRange(["--sparsity", "0.5"]);
        }
        if (option != "--device")
        {
            args.AddRange(["--device", "cpu"]);
        }
        args.AddRange([option, value]);
        CopalProcess.Result r = CopalProcess.Run([.. args]);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains($"{option}: ", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(value, r.Stderr, StringComparison.Ordinal);
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("'sparsity'", r.Stderr, StringComparison.Ordinal);
        AssertClean(r);
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData("--stride", "0", "--stride: expected an integer ≥ 1, got 0")]
    [InlineData("--limit-chunks", "0", "--limit-chunks: expected an integer ≥ 1, got 0")]
    [InlineData("--seqlen", "abc", "--seqlen: expected an integer, got 'abc'")]
    [InlineData("--layout", "foo", "--layout: expected raw, joined-lines or documents, got 'foo'")]
    [InlineData("--stride", "600", "--stride: expected at most --seqlen (512), got 600")]
    [InlineData("--device", "tpu", "--device: expected auto, cpu")]
    [InlineData("--mmap", "maybe", "--mmap: expected auto, on or off, got 'maybe'")]
    public void Bad_perplexity_option_values_exit_2_naming_the_option(string option, string value, string expected)
    {
        var args = new List<string> { "perplexity", "-m", Model, "--data", EvalText, "--seqlen", "512" };
        if (option != "--device")
        {
            args.AddRange(["--device", "cpu"]);
        }
        if (option == "--seqlen")
        {
            args.RemoveRange(5, 2);
        }
        args.AddRange([option, value]);
        CopalProcess.Result r = CopalProcess.Run([.. args]);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
        AssertClean(r);
    }

    [Theory]
    [InlineData("--seed", "-1", "--seed: expected a non-negative integer, got -1")]
    [InlineData("--temperature", "-1", "--temperature: expected a finite number ≥ 0, got -1")]
    [InlineData("--top-p", "1.5", "--top-p: expected a number in (0, 1], got 1.5")]
    [InlineData("--top-k", "-2", "--top-k: expected an integer ≥ 0, got -2")]
    [InlineData("-n", "x", "-n: expected an integer, got 'x'")]
    [InlineData("--max-tokens", "-3", "--max-tokens: expected an integer ≥ 0, got -3")]
    [InlineData("--repetition-penalty", "0", "--repetition-penalty: expected a finite number > 0, got 0")]
    [InlineData("--min-p", "1.5", "--min-p: expected a number in [0, 1], got 1.5")]
    [InlineData("--presence-penalty", "nan", "--presence-penalty: expected a finite number, got nan")]
    [InlineData("--frequency-penalty", "x", "--frequency-penalty: expected a number, got 'x'")]
    [InlineData("--sparse", "maybe", "--sparse: expected auto, off or force, got 'maybe'")]
    public void Bad_generate_option_values_exit_2_in_plain_words(string option, string value, string expected)
    {
        // A sampling temperature, so that the sampling options are checked for their own values.
        string[] sampling = option == "--temperature" ? [] : ["--temperature", "0.8"];
        CopalProcess.Result r = CopalProcess.Run(["generate", "-m", Model, "--device", "cpu", .. sampling, option, value]);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains(expected, r.Stderr, StringComparison.Ordinal);
        AssertClean(r);
    }

    // -c/--ctx-size is checked while the command line is read, as serve's is: before the model is looked at.
    [Theory]
    [InlineData("-c", "0", "generate")]
    [InlineData("--ctx-size", "-5", "generate")]
    [InlineData("-c", "0", "perplexity", "--data", "x.txt")]
    [InlineData("-c", "0", "bench")]
    [InlineData("-c", "0", "serve")]
    public void A_ctx_size_below_1_is_a_usage_error_before_the_model_is_read(string option, string value, string command, params string[] extra)
    {
        CopalProcess.Result r = CopalProcess.Run([command, "-m", _temp.File("absent"), .. extra, option, value]);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Equal([$"copal: error: {option}: expected an integer ≥ 1, got {value}", $"Run 'copal {command} --help' for the options."],
            r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>
    /// COPAL_DEBUG=1 writes the exception with its stack trace under the one line, for a bug report; without it the line
    /// is all. The test assemblies clear a developer's own COPAL_DEBUG (<see cref="DeveloperSettings"/>), so every other
    /// test sees the plain line.
    /// </summary>
    [Fact]
    public void COPAL_DEBUG_adds_the_stack_trace_under_the_one_line()
    {
        string missing = _temp.File("no-model");
        CopalProcess.Result debug = CopalProcess.RunWithEnvironment(new Dictionary<string, string?> { ["COPAL_DEBUG"] = "1" }, "inspect", "-m", missing);
        CopalProcess.Result plain = CopalProcess.Run("inspect", "-m", missing);
        Assert.True(plain.ExitCode == 1, $"exit {plain.ExitCode}; stderr: {plain.Stderr}");
        Assert.Equal(plain.ExitCode, debug.ExitCode);
        Assert.StartsWith("copal: error: ", plain.Stderr, StringComparison.Ordinal);
        Assert.Single(plain.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith(plain.Stderr, debug.Stderr, StringComparison.Ordinal);
        Assert.Contains("   at Copal.", debug.Stderr, StringComparison.Ordinal);
    }

    // Beyond the model's context: a usage error once config.json is read, naming the option as typed, before the weights load.
    /// <summary>
    /// A context the bound reaches exactly is taken: --ctx-size 512, stories260K's whole context, and a perplexity
    /// window as long as --ctx-size.
    /// </summary>
    [Fact]
    public void A_ctx_size_the_model_or_the_work_reaches_exactly_is_taken()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", Model, "--device", "cpu", "-p", "Once", "-n", "2", "--ctx-size", "512");
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        r = CopalProcess.Run("perplexity", "-m", Model, "--device", "cpu", "--data", EvalText, "--seqlen", "128", "--limit-chunks", "1", "-c", "128");
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}; stderr: {r.Stderr}");
    }

    [Theory]
    [InlineData("-c", "generate", "-n", "1")]
    [InlineData("--ctx-size", "generate", "-n", "1")]
    [InlineData("-c", "perplexity", "--data", "EVAL", "--seqlen", "128")]
    [InlineData("--ctx-size", "perplexity", "--data", "EVAL", "--seqlen", "128")]
    [InlineData("-c", "bench", "--prefill", "8", "--decode", "2")]
    [InlineData("-c", "serve", "--port", "0")]
    public void A_ctx_size_beyond_the_model_is_a_usage_error_naming_the_option_as_typed(string option, string command, params string[] extra)
    {
        string[] rest = extra.Select(a => a == "EVAL" ? EvalText : a).ToArray();
        CopalProcess.Result r = CopalProcess.Run([command, "-m", Model, "--device", "cpu", .. rest, option, "1000"]);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Equal([$"copal: error: {option} 1000 exceeds the model's context of 512 positions (max_position_embeddings)", $"Run 'copal {command} --help' for the options."],
            r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("", r.Stdout);
    }

    // A bad generation_config.json is reported from the model folder's small files, before the weights are read: here
    // the weights are not even a safetensors file, and the error is still the generation config's.
    [Theory]
    [InlineData("generate", "-n", "1")]
    [InlineData("serve", "--port", "0")]
    public void A_bad_generation_config_is_named_before_the_weights_load(string command, params string[] extra)
    {
        string dir = Path.Combine(_temp.Path, "bad-generation-config-" + command);
        Directory.CreateDirectory(dir);
        foreach (string f in Directory.GetFiles(Model).Where(f => Path.GetExtension(f) is ".json"))
        {
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        }
        File.WriteAllText(Path.Combine(dir, "model.safetensors"), "not weights");
        string generationConfig = Path.Combine(dir, "generation_config.json");
        File.WriteAllText(generationConfig, "{\"eos_token_id\": [2, 9999]}");
        CopalProcess.Result r = CopalProcess.Run([command, "-m", dir, "--device", "cpu", .. extra]);
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Equal([$"copal: error: {generationConfig}: field 'eos_token_id' must be a token id in 0..511 (vocab_size 512), found 9999"],
            r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("cuda:99")]
    [InlineData("opencl:99")]
    public void A_missing_device_is_a_failure_not_an_internal_error(string device)
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", Model, "-n", "1", "--device", device);
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains("copal devices", r.Stderr, StringComparison.Ordinal);
        AssertClean(r);
    }

    [Fact]
    public void A_file_given_as_the_model_folder_says_it_is_a_file()
    {
        string file = Path.Combine(Model, "model.safetensors");
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", file, "-n", "1", "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains($"-m: '{file}' is a file, expected a model folder", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_given_as_the_data_file_says_it_is_a_folder()
    {
        CopalProcess.Result r = CopalProcess.Run("perplexity", "-m", Model, "--data", Model, "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains($"--data: '{Model}' is a folder, expected a text file", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void A_folder_given_as_the_tokenize_file_says_it_is_a_folder()
    {
        CopalProcess.Result r = CopalProcess.Run("tokenize", "-m", Model, "-f", Model);
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains($"-f: '{Model}' is a folder, expected a text file", r.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--top-p", "0.9")]
    [InlineData("--top-k", "5")]
    [InlineData("--seed", "5")]
    public void Sampling_filters_without_a_temperature_are_refused_naming_both_options(string option, string value)
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", Model, "-n", "3", "--device", "cpu", option, value);
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains(option, r.Stderr, StringComparison.Ordinal);
        Assert.Contains("--temperature", r.Stderr, StringComparison.Ordinal);
        Assert.Equal("", r.Stdout);
    }

    /// <summary>A temperature below single precision's smallest reads as 0, greedy: the refusal says so, not that none was given.</summary>
    [Fact]
    public void A_temperature_that_rounds_to_zero_is_named_in_the_refusal()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", Model, "-n", "3", "--device", "cpu", "--temperature", "1e-50", "--seed", "5");
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains("--seed 5 seeds the sampling's draws, but --temperature 1e-50 is 0 in single precision (greedy decoding)", r.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Top_p_with_a_temperature_samples()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", Model, "-n", "3", "--device", "cpu", "--temperature", "0.8", "--top-p", "0.9", "--json");
        Assert.True(r.ExitCode == 0, r.Stderr);
        using JsonDocument doc = JsonDocument.Parse(r.Stdout);
        Assert.Equal(3, doc.RootElement.GetProperty("ids").GetArrayLength());
    }

    public void Dispose() => _temp.Dispose();
}
