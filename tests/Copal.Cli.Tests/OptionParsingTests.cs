using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Tensors.Backends;

namespace Copal.Cli.Tests;

/// <summary>
/// In-process checks of the whole command tree: every option's bad value gets a plain message naming it, and every
/// numeric option refuses a value that is not a finite number.
/// </summary>
public sealed class OptionParsingTests
{
    private static IEnumerable<(string[] Path, Command Command)> Commands(Command command, string[] path)
    {
        yield return (path, command);
        foreach (Command sub in command.Subcommands)
        {
            foreach (var pair in Commands(sub, [.. path, sub.Name]))
            {
                yield return pair;
            }
        }
    }

    public static TheoryData<string> BadValues => new() { "%bad%", "-1", "1e400", "NaN" };

    [Theory]
    [MemberData(nameof(BadValues))]
    public void Every_bad_option_value_is_named_in_plain_words(string bad)
    {
        RootCommand root = Program.CreateRoot();
        var failures = new List<string>();
        foreach ((string[] path, Command command) in Commands(root, []))
        {
            foreach (Option option in command.Options.Where(o => o.ValueType != typeof(bool) && !o.Name.StartsWith("--help", StringComparison.Ordinal)))
            {
                ParseResult parsed = root.Parse([.. path, option.Name, bad]);
                if (IsNumeric(option.ValueType) && bad != "-1" && !parsed.Errors.Any(e => e.Message.StartsWith(option.Name + ": ", StringComparison.Ordinal)))
                {
                    // Not a number, or not a finite one: every numeric option refuses it ("-1" is in range for some).
                    failures.Add($"copal {string.Join(' ', path)} {option.Name} {bad}: accepted");
                }
                foreach (var error in parsed.Errors)
                {
                    string m = error.Message;
                    bool bareRequired = m.Contains("is required", StringComparison.Ordinal) || m.Contains("Required argument", StringComparison.Ordinal);
                    if (bareRequired)
                    {
                        continue;
                    }
                    if (!m.StartsWith(option.Name + ": expected ", StringComparison.Ordinal) || m.Contains("System.", StringComparison.Ordinal)
                        || m.Contains("Copal.", StringComparison.Ordinal) || m.Contains("Cannot parse", StringComparison.Ordinal))
                    {
                        failures.Add($"copal {string.Join(' ', path)} {option.Name} {bad}: {m}");
                    }
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    public static TheoryData<string> NonFiniteSpellings => new() { "inf", "-inf", "+INF", "Inf", "-Infinity", "infinity", "nan", "-NaN", "∞" };

    /// <summary>
    /// inf, nan and their other spellings are told what "Infinity" is told, the option's finite range: "inf" was
    /// "expected a number" where "Infinity" was "expected a finite number ≥ 0", as if one were not a number.
    /// </summary>
    [Theory]
    [MemberData(nameof(NonFiniteSpellings))]
    public void Every_numeric_option_tells_any_spelling_of_infinity_or_nan_its_finite_range(string spelling)
    {
        RootCommand root = Program.CreateRoot();
        var failures = new List<string>();
        foreach ((string[] path, Command command) in Commands(root, []))
        {
            foreach (Option option in command.Options.Where(o => IsNumeric(o.ValueType)))
            {
                string? Expected(string value) => root.Parse([.. path, option.Name, value]).Errors.Select(e => e.Message)
                    .FirstOrDefault(m => m.StartsWith(option.Name + ": expected ", StringComparison.Ordinal));
                string? asInfinity = Expected("Infinity"), asSpelled = Expected(spelling);
                string? want = asInfinity?.Replace("got Infinity", $"got {spelling}", StringComparison.Ordinal);
                bool floating = (Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType) is Type t && (t == typeof(float) || t == typeof(double));
                if (asSpelled is null || asSpelled != want || (floating && asSpelled.Contains("expected a number,", StringComparison.Ordinal)))
                {
                    failures.Add($"copal {string.Join(' ', path)} {option.Name} {spelling}: {asSpelled} (Infinity: {asInfinity})");
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    private static bool IsNumeric(Type type) =>
        (Nullable.GetUnderlyingType(type) ?? type) is Type t && (t == typeof(int) || t == typeof(long) || t == typeof(ulong) || t == typeof(double) || t == typeof(float));

    /// <summary>'-' is standard output where a file is written; no option that names a folder takes it.</summary>
    [Theory]
    [InlineData("prune", "-o")]
    [InlineData("prune", "--state")]
    [InlineData("compact", "-o")]
    [InlineData("densify", "-o")]
    [InlineData("synth", "-o")]
    [InlineData("continual", "-o")]
    [InlineData("continual", "--temp")]
    public void A_folder_option_refuses_standard_output(string command, string option)
    {
        ParseResult parsed = Program.CreateRoot().Parse([command, option, "-"]);
        Assert.Contains(parsed.Errors, e => e.Message.StartsWith(option + ": expected a folder (standard output ('-') cannot take one), got '-'", StringComparison.Ordinal));
    }

    /// <summary>An input folder is never standard input: '-' is refused, saying what to give instead.</summary>
    [Theory]
    [InlineData("-m: standard input ('-') is not accepted here; give a model folder", "generate", "-m", "-")]
    [InlineData("--compare: standard input ('-') is not accepted here; give a model folder", "perplexity", "-m", "M", "-d", "x", "--compare", "-")]
    public void An_input_folder_option_refuses_standard_input(string expected, params string[] args) =>
        Assert.Contains(expected, Program.CreateRoot().Parse(args).Errors.Select(e => e.Message));

    /// <summary>A whole number beyond the option's type is out of range, and the message gives the range.</summary>
    [Theory]
    [InlineData("prune", "--nsamples", "99999999999", "--nsamples: expected an integer from 1 to 2147483647, got 99999999999")]
    [InlineData("prune", "--nsamples", "-99999999999", "--nsamples: expected an integer from 1 to 2147483647, got -99999999999")]
    [InlineData("bench", "--prefill", "99999999999", "--prefill: expected an integer from 1 to 2147483647, got 99999999999")]
    [InlineData("perplexity", "--seqlen", "99999999999", "--seqlen: expected an integer from 2 to 2147483647, got 99999999999")]
    [InlineData("serve", "--port", "99999999999", "--port: expected a port in 0..65535, got 99999999999")]
    [InlineData("bench", "--repeat", "2147483647", "--repeat: expected an integer in 1..1000000, got 2147483647")]
    [InlineData("bench", "--repeat", "99999999999", "--repeat: expected an integer in 1..1000000, got 99999999999")]
    [InlineData("prune", "--seed", "99999999999999999999999", "--seed: expected a non-negative integer up to 18446744073709551615, got 99999999999999999999999")]
    [InlineData("prune", "--seed", "-1", "--seed: expected a non-negative integer, got -1")]
    [InlineData("prune", "--nsamples", "x", "--nsamples: expected an integer, got 'x'")]
    public void An_integer_beyond_its_type_is_refused_with_the_range(string command, string option, string value, string expected)
    {
        ParseResult parsed = Program.CreateRoot().Parse([command, option, value]);
        Assert.Contains(expected, parsed.Errors.Select(e => e.Message));
    }

    [Fact]
    public void Every_integer_option_gives_its_range_for_a_value_beyond_it()
    {
        RootCommand root = Program.CreateRoot();
        var failures = new List<string>();
        foreach ((string[] path, Command command) in Commands(root, []))
        {
            foreach (Option option in command.Options.Where(o => o.ValueType == typeof(int) || o.ValueType == typeof(int?)))
            {
                ParseResult parsed = root.Parse([.. path, option.Name, "99999999999"]);
                string? m = parsed.Errors.Select(e => e.Message).FirstOrDefault(m => m.StartsWith(option.Name + ": expected ", StringComparison.Ordinal));
                // The expected part names a bound: "from 1 to 2147483647", "in 0..65535".
                if (m is null || !m[..m.LastIndexOf(", got", StringComparison.Ordinal)].Any(char.IsAsciiDigit))
                {
                    failures.Add($"copal {string.Join(' ', path)} {option.Name} 99999999999: {m}");
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    /// <summary>
    /// Text options that take any text, the empty text included (an empty --system message is a message; --layers is
    /// checked against the model: an empty list
    /// is refused, naming it, once config.json is read). Every other text option names a file, a folder, a list or a
    /// word, which an empty value cannot be.
    /// </summary>
    private static readonly string[] s_anyText = ["--text", "--prompt", "--system", "--ids", "--layers"];

    /// <summary>An empty value (an unset shell variable in quotes) is refused while parsing, naming the option.</summary>
    [Fact]
    public void Every_path_or_word_option_refuses_an_empty_value_naming_the_option()
    {
        RootCommand root = Program.CreateRoot();
        var failures = new List<string>();
        foreach ((string[] path, Command command) in Commands(root, []))
        {
            foreach (Option option in command.Options.Where(o => o.ValueType == typeof(string) && !s_anyText.Contains(o.Name)))
            {
                ParseResult parsed = root.Parse([.. path, option.Name, ""]);
                if (!parsed.Errors.Any(e => e.Message.StartsWith(option.Name + ": expected ", StringComparison.Ordinal)
                    && e.Message.EndsWith(", got an empty string", StringComparison.Ordinal)))
                {
                    failures.Add($"copal {string.Join(' ', path)} {option.Name} '': {string.Join(" | ", parsed.Errors.Select(e => e.Message))}");
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Theory]
    [InlineData("prune", "-o")]
    [InlineData("prune", "--state")]
    [InlineData("prune", "--resume")]
    [InlineData("prune", "-m")]
    [InlineData("compact", "-o")]
    [InlineData("compact", "--model")]
    [InlineData("densify", "-o")]
    [InlineData("synth", "-o")]
    [InlineData("synth", "--config")]
    [InlineData("synth", "--tokenizer")]
    [InlineData("logits", "-o")]
    [InlineData("continual", "-o")]
    [InlineData("continual", "--temp")]
    [InlineData("perplexity", "--data")]
    [InlineData("perplexity", "--compare")]
    [InlineData("tokenize", "-f")]
    [InlineData("generate", "-m")]
    public void An_empty_path_is_refused_as_a_path(string command, string option)
    {
        ParseResult parsed = Program.CreateRoot().Parse([command, option, ""]);
        Assert.Contains(parsed.Errors, e => e.Message == $"{option}: expected a path, got an empty string");
    }

    /// <summary>A folder to write cannot be named by blanks alone either (no folder of that name is made).</summary>
    [Theory]
    [InlineData("prune", "-o")]
    [InlineData("continual", "--temp")]
    public void A_blank_output_folder_is_refused_as_a_path(string command, string option)
    {
        ParseResult parsed = Program.CreateRoot().Parse([command, option, " "]);
        Assert.Contains(parsed.Errors, e => e.Message == $"{option}: expected a path, got ' '");
    }

    /// <summary>An option without its value, or given twice, is told in copal's words: the option, what it expects, what it got.</summary>
    [Theory]
    [InlineData("-n: expected a value, got none", "generate", "-m", "M", "-n")]
    [InlineData("--method: expected a value, got none", "prune", "-m", "M", "-o", "out", "--method")]
    [InlineData("-n: expected one value, got 2 (3, 4); give the option once", "generate", "-m", "M", "-n", "3", "-n", "4")]
    [InlineData("-p: expected one value, got 2 ('a', 'b'); give the option once", "generate", "-m", "M", "-p", "a", "--prompt", "b")]
    public void A_missing_or_repeated_value_names_the_option(string expected, params string[] args)
    {
        ParseResult parsed = Program.CreateRoot().Parse(args);
        Assert.Equal(expected, Program.FirstUsageError(parsed));
    }

    /// <summary>
    /// With several bad values the first typed is named (System.CommandLine lists them in the order the command declares
    /// its options), and a bad value comes before a required option not given.
    /// </summary>
    [Theory]
    [InlineData("--seed: expected a non-negative integer, got -1", "prune", "-m", "M", "-o", "x", "--seed", "-1", "--sparsity", "1.5")]
    [InlineData("--sparsity: expected a ratio between 0 and 0.95 (e.g. 0.5; use --pattern for N:M), got 1.5", "prune", "-m", "M", "-o", "x", "--sparsity", "1.5", "--seed", "-1")]
    [InlineData("--top-p: expected a number in (0, 1], got 2", "generate", "-m", "M", "--top-p", "2", "--temperature", "-1")]
    [InlineData("model: standard input ('-') is not accepted here; give a model folder", "compact", "-")]
    public void The_first_bad_value_typed_is_named(string expected, params string[] args)
    {
        ParseResult parsed = Program.CreateRoot().Parse(args);
        Assert.Equal(expected, Program.FirstUsageError(parsed));
    }

    /// <summary>
    /// --sparsity's range is [0, 0.95] (docs/cli.md): -0 is 0, accepted as --temperature -0 is, and written as 0; it was
    /// refused as outside "between 0 and 0.95". A negative number that reads as -0 (-1e-400) is still negative.
    /// </summary>
    [Theory]
    [InlineData("-0", null)]
    [InlineData("-0.000", null)]
    [InlineData("+0.5", null)]
    [InlineData("-1e-400", "--sparsity: expected a ratio between 0 and 0.95 (e.g. 0.5; use --pattern for N:M), got -1e-400")]
    [InlineData("-0.5", "--sparsity: expected a ratio between 0 and 0.95 (e.g. 0.5; use --pattern for N:M), got -0.5")]
    [InlineData("inf", "--sparsity: expected a ratio between 0 and 0.95 (e.g. 0.5; use --pattern for N:M), got inf")]
    [InlineData("-Infinity", "--sparsity: expected a ratio between 0 and 0.95 (e.g. 0.5; use --pattern for N:M), got -Infinity")]
    public void Sparsity_takes_minus_zero_as_zero_and_refuses_every_negative_number(string value, string? expected)
    {
        ParseResult parsed = Program.CreateRoot().Parse(["prune", "-m", "M", "-o", "x", "--sparsity", value]);
        Assert.Equal(expected, parsed.Errors.Select(e => e.Message).FirstOrDefault(m => m.StartsWith("--sparsity", StringComparison.Ordinal)));
        if (expected is null)
        {
            var ratio = Assert.IsType<Copal.Prune.SparsityPattern.Unstructured>(Copal.Prune.SparsityPattern.Parse(value));
            Assert.False(double.IsNegative(ratio.Ratio), $"{value} read as {ratio}");
            Assert.Equal(value == "+0.5" ? "0.5" : "0", ratio.ToString());
        }
    }

    /// <summary>
    /// A positive number below single precision's smallest is read as 0: the refusal says so, rather than that the
    /// value given (1e-50, which is in (0, 1]) is out of the range it names.
    /// </summary>
    [Theory]
    [InlineData("--top-p: expected a number in (0, 1], got 1e-50, which single precision holds as 0", "--top-p", "1e-50")]
    [InlineData("--repetition-penalty: expected a finite number > 0, got 1e-46, which single precision holds as 0", "--repetition-penalty", "1e-46")]
    public void A_number_that_rounds_to_zero_is_refused_saying_so(string expected, string option, string value)
    {
        ParseResult parsed = Program.CreateRoot().Parse(["generate", "-m", "M", "--temperature", "0.8", option, value]);
        Assert.Equal(expected, Program.FirstUsageError(parsed));
    }

    /// <summary>
    /// A negative number that single precision reads as -0 is still negative: a rule of "≥ 0" refuses it as typed,
    /// rather than taking it for 0 (for --temperature, greedy decoding).
    /// </summary>
    [Theory]
    [InlineData("--temperature: expected a finite number ≥ 0, got -1e-50", "--temperature", "-1e-50")]
    [InlineData("--min-p: expected a number in [0, 1], got -1e-50", "--min-p", "-1e-50")]
    public void A_negative_number_that_rounds_to_zero_is_refused_as_negative(string expected, string option, string value)
    {
        ParseResult parsed = Program.CreateRoot().Parse(["generate", "-m", "M", option, value]);
        Assert.Equal(expected, Program.FirstUsageError(parsed));
    }

    /// <summary>
    /// A word option takes any case and blanks around the word (" OFF "), an enum option its name with or without the
    /// dashes the docs write (joined-lines, JoinedLines); a wrong word is told with the alternatives as "a, b or c".
    /// </summary>
    [Fact]
    public void Word_options_take_any_case_blanks_and_dashes_and_a_wrong_one_names_the_alternatives()
    {
        ParseResult parsed = Program.CreateRoot().Parse(["perplexity", "-m", "M", "-d", "x", "--sparse", " OFF ", "--layout", "joined-lines"]);
        Assert.Empty(parsed.Errors);
        Assert.Equal("off", parsed.GetValue<string>("--sparse"));
        Assert.Equal(Copal.Model.Evaluation.TextLayout.JoinedLines, parsed.GetValue<Copal.Model.Evaluation.TextLayout>("--layout"));
        Assert.Equal("--sparse: expected auto, off or force, got 'sometimes'",
            Program.FirstUsageError(Program.CreateRoot().Parse(["perplexity", "-m", "M", "-d", "x", "--sparse", "sometimes"])));
    }

    /// <summary>
    /// A double option has the same edge past double's smallest: --dense-target -1e-400 reads as -0, which "0 ≤ α" took
    /// for 0, and --decay 1e-400 (in (0, 1] as typed) was refused without saying why. A negative value refused for its
    /// sign gets no note that it rounds to 0, since that is not why it is refused.
    /// </summary>
    [Theory]
    [InlineData("--dense-target: expected a share α with 0 ≤ α ≤ 1, got -1e-400", "prune", "-m", "M", "-o", "x", "--dense-target", "-1e-400")]
    [InlineData("--decay: expected a factor γ with 0 < γ ≤ 1, got 1e-400, which double precision holds as 0", "prune", "-m", "M", "-o", "x", "--decay", "1e-400")]
    [InlineData("--top-p: expected a number in (0, 1], got -1e-50", "generate", "-m", "M", "--top-p", "-1e-50")]
    // A zero written with an exponent is 0 as typed: no note that precision made it so (the exponent's digits are no significand's).
    [InlineData("--top-p: expected a number in (0, 1], got 0e5", "generate", "-m", "M", "--top-p", "0e5")]
    public void A_number_past_its_types_smallest_is_refused_as_typed(string expected, params string[] args)
    {
        ParseResult parsed = Program.CreateRoot().Parse(args);
        Assert.Equal(expected, Program.FirstUsageError(parsed));
    }

    /// <summary>An integer option's least value is in its range ("an integer ≥ 0" takes 0), for plain and optional integers.</summary>
    [Theory]
    [InlineData("generate", "-m", "M", "-n", "0")]
    [InlineData("generate", "-m", "M", "--top-k", "0")]
    [InlineData("generate", "-m", "M", "--ctx-size", "1")]
    [InlineData("serve", "-m", "M", "--parallel", "1")]
    public void An_integer_options_least_value_is_taken(params string[] args) =>
        Assert.Empty(Program.CreateRoot().Parse(args).Errors);

    /// <summary>An enum option's name may also be written with underscores, in any case (JOINED_LINES).</summary>
    [Fact]
    public void An_enum_option_takes_its_name_with_underscores()
    {
        ParseResult parsed = Program.CreateRoot().Parse(["perplexity", "-m", "M", "-d", "x", "--layout", "JOINED_LINES"]);
        Assert.Empty(parsed.Errors);
        Assert.Equal(Copal.Model.Evaluation.TextLayout.JoinedLines, parsed.GetValue<Copal.Model.Evaluation.TextLayout>("--layout"));
    }

    /// <summary>The older positional form of the model names a path too.</summary>
    [Theory]
    [InlineData("inspect")]
    [InlineData("compact")]
    [InlineData("densify")]
    public void An_empty_positional_model_is_refused_as_a_path(string command)
    {
        ParseResult parsed = Program.CreateRoot().Parse([command, ""]);
        Assert.Equal("model: expected a path, got an empty string", Program.FirstUsageError(parsed));
    }

    /// <summary>An empty entry in continual's --datasets names no dataset; it is refused, not skipped.</summary>
    [Theory]
    [InlineData("a=x.txt,")]
    [InlineData("a=x.txt,,b=y.txt")]
    public void An_empty_dataset_entry_is_refused(string datasets)
    {
        ParseResult parsed = Program.CreateRoot().Parse(["continual", "--datasets", datasets]);
        Assert.Contains(parsed.Errors, e => e.Message.StartsWith("--datasets: expected ", StringComparison.Ordinal)
            && e.Message.EndsWith($"none of them empty, got '{datasets}'", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(512, "512")]
    [InlineData(260_032, "260.0K")]
    [InlineData(1_100_048_384, "1.10B")]
    [InlineData(6_738_415_616, "6.74B")]
    [InlineData(124_439_808, "124.4M")]
    public void Parameter_counts_keep_their_figures(long count, string expected) => Assert.Equal(expected, Quantities.Count(count));

    [Theory]
    [InlineData(999, "999 B")]
    [InlineData(1_037_312, "1.0 MB")]
    [InlineData(2_200_000_000, "2.20 GB")]
    [InlineData(45_312, "45.3 kB")]
    public void Decimal_sizes_keep_their_figures(long bytes, string expected) => Assert.Equal(expected, Quantities.DecimalBytes(bytes));

    /// <summary>A figure that rounds to 1000 of a unit is shown as 1 of the next: "1.0M" parameters, not "1000.0K".</summary>
    [Theory]
    [InlineData(999_999, "1.0M")]
    [InlineData(999_950, "1.0M")]
    [InlineData(999_949, "999.9K")]
    [InlineData(999_999_999, "1.00B")]
    public void Parameter_counts_that_round_up_take_the_next_unit(long count, string expected) => Assert.Equal(expected, Quantities.Count(count));

    [Theory]
    [InlineData(999_999, "1.0 MB")]
    [InlineData(999_999_999, "1.00 GB")]
    [InlineData(999_949, "999.9 kB")]
    public void Decimal_sizes_that_round_up_take_the_next_unit(long bytes, string expected) => Assert.Equal(expected, Quantities.DecimalBytes(bytes));

    [Fact]
    public void A_missing_device_exits_1_with_its_message()
    {
        using var stderr = new StringWriter();
        int code = CliErrors.Report(new DeviceUnavailableException("no CUDA device 3; devices here: cpu, opencl:0"), stderr);
        Assert.Equal(1, code);
        Assert.Equal("copal: error: no CUDA device 3; devices here: cpu, opencl:0 (`copal devices` lists this machine's devices and why any is refused)"
            + Environment.NewLine, stderr.ToString());
    }

    [Fact]
    public void A_device_out_of_memory_exits_1_with_its_message_and_what_needs_less()
    {
        using var stderr = new StringWriter();
        int code = CliErrors.Report(new DeviceOutOfMemoryException("cuda device 'H200' is out of memory: 2.00 GiB for weight 'w' did not fit"), stderr);
        Assert.Equal(1, code);
        Assert.Equal("copal: error: cuda device 'H200' is out of memory: 2.00 GiB for weight 'w' did not fit; a compact (pruned) checkpoint, "
            + "a shorter context or --device cpu needs less" + Environment.NewLine, stderr.ToString());
    }

    [Fact]
    public void The_host_out_of_memory_does_not_suggest_the_cpu_it_ran_on()
    {
        using var stderr = new StringWriter();
        int code = CliErrors.Report(new DeviceOutOfMemoryException("host memory is short: 2.00 GiB for a buffer of 536870912 floats did not fit") { OnHost = true }, stderr);
        Assert.Equal(1, code);
        Assert.Equal("copal: error: host memory is short: 2.00 GiB for a buffer of 536870912 floats did not fit; a compact (pruned) checkpoint "
            + "or a shorter context needs less" + Environment.NewLine, stderr.ToString());
    }

    /// <summary>Where the refusal knows a better remedy (a weight copy: --mmap on), the line gives it instead of the general one.</summary>
    [Fact]
    public void The_host_out_of_memory_gives_the_remedy_the_refusal_names()
    {
        using var stderr = new StringWriter();
        int code = CliErrors.Report(new DeviceOutOfMemoryException("host memory is short: 64.0 MiB for a copy of tensor 'w' did not fit")
        {
            OnHost = true,
            Remedy = "--mmap on maps the weights instead of copying them, which needs no such room",
        }, stderr);
        Assert.Equal(1, code);
        Assert.Equal("copal: error: host memory is short: 64.0 MiB for a copy of tensor 'w' did not fit; --mmap on maps the weights instead of copying "
            + "them, which needs no such room" + Environment.NewLine, stderr.ToString());
    }

    [Fact]
    public void Running_out_of_managed_memory_is_a_plain_failure_not_an_internal_error()
    {
        using var stderr = new StringWriter();
        int code = CliErrors.Report(new OutOfMemoryException(), stderr);
        Assert.Equal(1, code);
        Assert.Equal("copal: error: out of memory: the run needs more memory than this process may use; a shorter text or context, "
            + "a compact (pruned) checkpoint or more memory needs less" + Environment.NewLine, stderr.ToString());
    }

    [Fact]
    public void A_real_bug_is_an_internal_error_that_asks_for_a_report()
    {
        using var stderr = new StringWriter();
        int code = CliErrors.Report(new NullReferenceException("Object reference not set to an instance of an object."), stderr);
        Assert.Equal(1, code);
        Assert.Contains("internal error", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("please report", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Argument_exceptions_lose_their_parameter_suffix()
    {
        using var stderr = new StringWriter();
        CliErrors.Report(new ArgumentOutOfRangeException("options", 0, "--stride must be between 1 and --seqlen (512), got 0"), stderr);
        Assert.Equal("copal: error: --stride must be between 1 and --seqlen (512), got 0" + Environment.NewLine, stderr.ToString());
    }

    /// <summary>--ids: spaces and commas separate ids, but an empty place between commas is refused, as in every comma list.</summary>
    [Theory]
    [InlineData("1  ,, 2", "comma 1 has no id after it")]
    [InlineData(",1", "comma 1 has no id before it")]
    [InlineData("1,2,", "comma 2 has no id after it")]
    public void Detokenize_ids_refuse_an_empty_place_between_commas(string text, string expected)
    {
        var e = Assert.Throws<UsageException>(() => Copal.Cli.Commands.TokenizeCommand.ParseIds(text, 512));
        Assert.Equal($"--ids: {expected}; expected token ids separated by spaces or commas", e.Message);
    }

    /// <summary>Binary or one long word on standard input was quoted whole and raw: 100 KB of one line, control bytes included.</summary>
    [Theory]
    [InlineData("1 x 3", "'x' (item 2)")]
    [InlineData("1 \u0000\u001b[2J", "'\\u0000\\u001b[2J' (item 2)")]
    [InlineData("1 2 abcdefghijklmnopqrstuvwxyz", "'abcdefghijklmnopqrst…' (26 characters) (item 3)")]
    public void Detokenize_ids_quote_a_bad_item_short_and_printable(string text, string expected)
    {
        var e = Assert.Throws<UsageException>(() => Copal.Cli.Commands.TokenizeCommand.ParseIds(text, 512));
        Assert.Equal($"--ids: {expected} is not a token id in [0, 512)", e.Message);
    }

    [Theory]
    [InlineData("1, 2, 3")]
    [InlineData("1 2\n3")]
    [InlineData(" 1,2 ,3 ")]
    public void Detokenize_ids_take_spaces_and_commas(string text) =>
        Assert.Equal([1, 2, 3], Copal.Cli.Commands.TokenizeCommand.ParseIds(text, 512));

    /// <summary>
    /// --ids of a long text (tokenize's output for a file of tens of megabytes, read back from standard input) are read
    /// in place: a string for each id took detokenize of 11.5 million ids to 1.3 GB.
    /// </summary>
    [Fact]
    public void Detokenize_ids_are_read_without_a_string_for_each()
    {
        string text = string.Join(", ", Enumerable.Range(0, 1 << 20).Select(i => i % 500)) + "\n";
        Copal.Cli.Commands.TokenizeCommand.ParseIds(text, 512);
        long before = GC.GetAllocatedBytesForCurrentThread();
        int[] ids = Copal.Cli.Commands.TokenizeCommand.ParseIds(text, 512);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(1 << 20, ids.Length);
        Assert.Equal(499, ids[499]);
        Assert.InRange(allocated, 0, ((long)ids.Length * sizeof(int)) + (64 << 10));
    }
}
