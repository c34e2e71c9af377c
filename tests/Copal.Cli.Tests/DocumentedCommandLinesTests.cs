using System.CommandLine;
using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// README.md, docs/*.md and the tools' and benchmarks' READMEs show command lines (`copal prune -m M --method wanda
/// --sparsity 0.5 ...`) that readers type as they are. An option renamed or removed in the parser, or misspelled in
/// the docs, leaves them a line that copal refuses; this reads every such line and asks the command tree
/// (<see cref="Program.CreateRoot"/>) for each option.
/// </summary>
public sealed partial class DocumentedCommandLinesTests
{
    [Fact]
    public void Every_option_of_a_documented_copal_command_line_is_one_that_command_has()
    {
        RootCommand root = Program.CreateRoot();
        // Each tool's and benchmark's README shows copal command lines too (the peers' script's `copal bench`, the testbed's
        // runs); not the folders below them, where a local environment's packages may keep READMEs of their own.
        var documents = new[] { TestData.RepoPath("README.md") }
            .Concat(Directory.EnumerateFiles(TestData.RepoPath("docs"), "*.md").Order(StringComparer.Ordinal))
            .Concat(new[] { "tools", "benchmarks" }.SelectMany(d => Directory.EnumerateDirectories(TestData.RepoPath(d)))
                .Select(d => Path.Combine(d, "README.md")).Where(File.Exists).Order(StringComparer.Ordinal))
            .ToDictionary(f => f, File.ReadAllText);
        // cli.md shows what a misspelled option gives (`--frmat` is `unknown option '--frmat'`): that one is meant.
        var quotedAsUnknown = documents.Values.SelectMany(t => UnknownOption().Matches(t)).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        var failures = new List<string>();
        int checkedOptions = 0;
        foreach ((string file, string text) in documents)
        {
            checkedOptions += CheckCommandLines(root, Path.GetRelativePath(TestData.RepoPath(), file), text, quotedAsUnknown, failures);
        }
        // The docs show hundreds: a pattern that stopped matching them would pass on nothing.
        Assert.True(checkedOptions > 200, $"only {checkedOptions} options were found in the docs' command lines");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    /// <summary>README's first command is `dotnet run ... --project src/Copal.Cli -- generate ...`: its options are checked too.</summary>
    [Fact]
    public void A_misspelled_option_of_a_dotnet_run_line_is_found()
    {
        var failures = new List<string>();

        int checkedOptions = CheckCommandLines(Program.CreateRoot(), "f.md", "dotnet run -c Release --project src/Copal.Cli -- generate --modle M\n", new HashSet<string>(), failures);

        Assert.Equal(1, checkedOptions);
        Assert.Equal("f.md:1: copal generate has no option --modle: dotnet run -c Release --project src/Copal.Cli -- generate --modle M", Assert.Single(failures));
    }

    /// <summary>Two commands a shell runs one after the other: each option is checked against its own command, not the first's.</summary>
    [Fact]
    public void Each_command_of_a_chained_line_is_checked_against_its_own_options()
    {
        var failures = new List<string>();

        int checkedOptions = CheckCommandLines(Program.CreateRoot(), "f.md", "copal synth --preset test-tiny -o d && copal generate -m d --max-tokens 5; copal inspect -m d | head\n", new HashSet<string>(), failures);

        Assert.Equal(5, checkedOptions);
        Assert.Empty(failures);
    }

    /// <summary>
    /// The other direction: every option of every command, as `--help` lists it, is named somewhere in README.md or
    /// docs/*.md, so a reader who meets it in the help can look up what it does (tokenize's --no-special and
    /// detokenize's --keep-special were in the help and nowhere in the docs). Options are found by their long name as
    /// a whole word (`--seed`, not the start of `--seeds`); help's own `--help` is the exception.
    /// </summary>
    [Fact]
    public void Every_option_in_the_help_is_named_in_the_docs()
    {
        string docs = string.Join('\n', new[] { TestData.RepoPath("README.md") }
            .Concat(Directory.EnumerateFiles(TestData.RepoPath("docs"), "*.md")).Select(File.ReadAllText));
        var named = OptionToken().Matches(docs).Select(m => m.Value).ToHashSet(StringComparer.Ordinal);
        var missing = new List<string>();
        int options = 0;
        foreach ((Command command, string path) in AllCommands(Program.CreateRoot(), "copal"))
        {
            foreach (Option option in command.Options.Where(o => o.Name.StartsWith("--", StringComparison.Ordinal) && o.Name != "--help" && o.Name != "--version"))
            {
                options++;
                if (!named.Contains(option.Name))
                {
                    missing.Add($"{path} {option.Name}");
                }
            }
        }
        Assert.True(options > 70, $"only {options} options were found in the command tree");
        Assert.True(missing.Count == 0, "in --help but named nowhere in README.md or docs/: " + string.Join(", ", missing));
    }

    /// <summary>
    /// A number option that the parser gives no default says in its help what leaving it out means (`--seqlen`'s
    /// "default: min(2048, the model's context)"); `--limit-chunks` and `--eval-limit-chunks` said nothing, where
    /// leaving them out evaluates every window. `--sparsity` is exempt: one of it and `--pattern` is required.
    /// </summary>
    [Fact]
    public void Every_number_option_without_a_parser_default_says_its_default_in_the_help()
    {
        var silent = new List<string>();
        int numbers = 0;
        foreach ((Command command, string path) in AllCommands(Program.CreateRoot(), "copal"))
        {
            foreach (Option option in command.Options)
            {
                Type type = Nullable.GetUnderlyingType(option.ValueType) ?? option.ValueType;
                if (type != typeof(int) && type != typeof(long) && type != typeof(float) && type != typeof(double))
                {
                    continue;
                }
                numbers++;
                if (!option.HasDefaultValue && option.Name != "--sparsity"
                    && !(option.Description ?? "").Contains("default", StringComparison.OrdinalIgnoreCase))
                {
                    silent.Add($"{path} {option.Name}");
                }
            }
        }
        Assert.True(numbers > 30, $"only {numbers} number options were found in the command tree");
        Assert.True(silent.Count == 0, "number options whose help does not say what leaving them out means: " + string.Join(", ", silent));
    }

    private static IEnumerable<(Command, string)> AllCommands(Command command, string path)
    {
        yield return (command, path);
        foreach (Command sub in command.Subcommands)
        {
            foreach ((Command, string) c in AllCommands(sub, $"{path} {sub.Name}"))
            {
                yield return c;
            }
        }
    }

    /// <summary>A misspelled command followed by its options is found, where prose that starts with "copal" is not a command.</summary>
    [Fact]
    public void A_misspelled_command_with_options_is_found()
    {
        var failures = new List<string>();

        CheckCommandLines(Program.CreateRoot(), "f.md", "copal runs in the invariant culture.\n\ncopal perplexty -m M --text t.txt\n", new HashSet<string>(), failures);

        Assert.Equal("f.md:3: copal has no command perplexty: copal perplexty -m M --text t.txt", Assert.Single(failures));
    }

    /// <summary>A failure names the line the command is on, also after commands continued over several lines.</summary>
    [Fact]
    public void A_failure_names_its_line_after_continued_lines()
    {
        var failures = new List<string>();

        CheckCommandLines(Program.CreateRoot(), "f.md", "copal synth --preset test-tiny \\\n  -o d \\\n  --seed 1\n\ncopal prune -m D --calbi x\n", new HashSet<string>(), failures);

        Assert.Equal("f.md:5: copal prune has no option --calbi: copal prune -m D --calbi x", Assert.Single(failures));
    }

    /// <summary>
    /// serving.md's table of `copal serve`'s options gives each one's default; a default changed in the parser (or the
    /// table) would tell a reader what the server does not do. Rows whose default is a word in backticks are compared
    /// with the parser's default as `--help` prints it.
    /// </summary>
    [Fact]
    public void The_serve_options_table_gives_the_parsers_defaults()
    {
        Command serve = Program.CreateRoot().Subcommands.Single(c => c.Name == "serve");
        string[] lines = File.ReadAllLines(TestData.RepoPath("docs", "serving.md"));
        int header = Array.IndexOf(lines, "| option | default | meaning |");
        Assert.True(header >= 0, "docs/serving.md has no table headed '| option | default | meaning |'");
        var failures = new List<string>();
        int compared = 0;
        foreach (string row in lines.Skip(header + 2).TakeWhile(l => l.StartsWith('|')))
        {
            string[] cells = TableCell().Split(row.Trim('|'));
            string option = OptionToken().Match(cells[0]).Value;
            Option? parsed = serve.Options.FirstOrDefault(o => o.Name == option || o.Aliases.Contains(option));
            if (parsed is null)
            {
                failures.Add($"serving.md: copal serve has no option {option}: {row}");
                continue;
            }
            if (Regex.Match(cells[1].Trim(), "^`([^`]+)`$") is { Success: true } documented)
            {
                compared++;
                string actual = parsed.HasDefaultValue ? $"{parsed.GetDefaultValue()}" : "(none)";
                if (!string.Equals(actual, documented.Groups[1].Value, StringComparison.OrdinalIgnoreCase))
                {
                    failures.Add($"serving.md: {option} defaults to {actual}, the table says {documented.Groups[1].Value}");
                }
            }
        }
        Assert.True(compared >= 8, $"only {compared} defaults were compared: the table's layout changed");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    /// <summary>
    /// Checks every option of every copal command line in <paramref name="text"/> against its command, adding a
    /// failure for each one the command lacks, at the line it is on; returns how many options it checked.
    /// </summary>
    internal static int CheckCommandLines(RootCommand root, string file, string text, IReadOnlySet<string> quotedAsUnknown, List<string> failures)
    {
        int checkedOptions = 0;
        string[] lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            // A line ending in a backslash goes on in the next; the failure names the line the command starts on.
            int first = i;
            string line = lines[i].TrimEnd('\r');
            while (line.EndsWith('\\') && i + 1 < lines.Length)
            {
                line = line[..^1] + " " + lines[++i].TrimEnd('\r').TrimStart();
            }
            // A command ends at its code span's closing backtick, where a pipe hands its output on, or where a shell
            // runs the next one (`copal synth ... && copal generate ...`): each piece is checked against its own command.
            foreach (string piece in CommandSeparator().Split(line))
            {
                Match m = CommandLine().Match(piece);
                if (!m.Success)
                {
                    continue;
                }
                if (Find(root, m.Groups["command"].Value, m.Groups["sub"].Value) is not (Command command, string name))
                {
                    // "copal runs in the invariant culture" is prose, not a command; "copal generat -m M" is a command
                    // copal does not have: a word followed by an option.
                    if (m.Groups["sub"].Value.Length == 0 && StartsWithOption().IsMatch(m.Groups["rest"].Value))
                    {
                        failures.Add($"{file}:{first + 1}: copal has no command {m.Groups["command"].Value}: {line.Trim()}");
                    }
                    continue;
                }
                foreach (Match o in OptionToken().Matches(m.Groups["rest"].Value))
                {
                    checkedOptions++;
                    if (!Accepts(command, o.Value) && !quotedAsUnknown.Contains(o.Value))
                    {
                        failures.Add($"{file}:{first + 1}: copal {name} has no option {o.Value}: {line.Trim()}");
                    }
                }
            }
        }
        return checkedOptions;
    }

    /// <summary>The command a line names, and its subcommand where the second word is one (`copal bench kernels`).</summary>
    private static (Command, string)? Find(RootCommand root, string commandName, string subName)
    {
        Command? command = root.Subcommands.FirstOrDefault(c => c.Name == commandName);
        if (command is null)
        {
            return null;
        }
        Command? sub = command.Subcommands.FirstOrDefault(c => c.Name == subName);
        return sub is null ? (command, command.Name) : (sub, $"{command.Name} {sub.Name}");
    }

    /// <summary>Its own options and the recursive ones of the commands above it (help).</summary>
    private static bool Accepts(Command command, string token)
    {
        for (Command? c = command; c is not null; c = c.Parents.OfType<Command>().FirstOrDefault())
        {
            if (c.Options.Any(o => (c == command || o.Recursive) && (o.Name == token || o.Aliases.Contains(token))))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>`copal generate ...`, the built binary's `.../copal generate ...`, or README's first line, `dotnet run ... --project src/Copal.Cli -- generate ...`.</summary>
    [GeneratedRegex(@"(?:\bcopal(?:\.dll)?|Copal\.Cli --) (?<command>[a-z]+)(?: (?<sub>[a-z]+))?(?<rest>.*)")]
    private static partial Regex CommandLine();

    [GeneratedRegex(@"^ --?[A-Za-z]")]
    private static partial Regex StartsWithOption();

    [GeneratedRegex(@"`| \| | \|\| | && |; ")]
    private static partial Regex CommandSeparator();

    /// <summary>`-m`, `--max-tokens`, `-np`; not the `-name` of `./-name`, a range's `-1`, or `a-b`.</summary>
    [GeneratedRegex(@"(?<![\w/.=-])--?[A-Za-z][\w-]*")]
    private static partial Regex OptionToken();

    /// <summary>A table row's cell boundary: a `|` not escaped as `\|` (as in `auto\|off\|force`).</summary>
    [GeneratedRegex(@"(?<!\\)\|")]
    private static partial Regex TableCell();

    [GeneratedRegex(@"unknown option '(--?[\w-]+)'")]
    private static partial Regex UnknownOption();
}
