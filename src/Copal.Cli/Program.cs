using System.CommandLine;
using System.CommandLine.Help;
using System.Globalization;
using System.CommandLine.Parsing;
using Copal.Cli.Commands;
using Copal.Cli.Infrastructure;

namespace Copal.Cli;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        UseInvariantCulture();
        Cancellation.Install();
        Console.SetOut(new StandardOutputWriter(Console.Out));
        RootCommand root = CreateRoot();
        // `copal` alone asks for nothing: it shows the commands on stdout and exits 0, as `copal --help` does.
        ParseResult parsed = root.Parse(args.Length == 0 ? ["--help"] : args, Parsing);
        // Help is what the parser took as the help option, not any "-h" among the arguments: `generate -p -h` is the
        // prompt "-h" (then a usage error: no -m), where `generate --bogus --help` shows help.
        if (parsed.Errors.Count > 0 && parsed.Action is not HelpAction)
        {
            // Usage errors exit with 2, after the one-line reason and where to find the command's options.
            Console.Error.WriteLine($"copal: error: {FirstUsageError(parsed)}");
            Console.Error.WriteLine(CliErrors.HelpPointer(parsed.CommandResult));
            return CliErrors.Usage;
        }
        // Ctrl-C is handled by Cancellation (cooperative cleanup), not by forced termination.
        var config = new InvocationConfiguration { ProcessTerminationTimeout = null };
        int code = await parsed.InvokeAsync(config).ConfigureAwait(false);
        // Help and the version are written by System.CommandLine, not by a command's body (SetBody asks the same): help
        // nobody read to the end exits 141, as SIGPIPE would have ended it, after the notice its write gave.
        return code == CliErrors.Ok && StandardOutput.WasCutShort() ? CliErrors.OutputClosed : code;
    }

    /// <summary>
    /// No response files: System.CommandLine would read an argument that starts with '@' as a file of more arguments,
    /// so a prompt such as "@everyone hello" or a data file named "@notes.txt" failed with "Response file not found"
    /// or a stray "unexpected argument". An argument is what it says.
    /// </summary>
    internal static ParserConfiguration Parsing { get; } = new() { ResponseFileTokenReplacer = null };

    /// <summary>
    /// Numbers and words read and written the same whatever the locale (cli.md). The build asks for invariant
    /// globalization, but DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=0 (as container images with ICU set it) overrides that
    /// and brings LANG's culture back: de_DE would print 0,95 and 260.032, Turkish would lower-case I to dotless ı.
    /// </summary>
    private static void UseInvariantCulture()
    {
        CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.DefaultThreadCurrentUICulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        CultureInfo.CurrentUICulture = CultureInfo.InvariantCulture;
    }

    /// <summary>The whole command tree, with the option value rules of <see cref="OptionRules"/> installed.</summary>
    internal static RootCommand CreateRoot()
    {
        var root = new RootCommand("copal: run and prune LLaMA-family models (safetensors + config.json + tokenizer.json) on CPU and GPUs")
        {
            InspectCommand.Create(),
            TokenizeCommand.Create(),
            TokenizeCommand.CreateDetokenize(),
            GenerateCommand.Create(),
            ServeCommand.Create(),
            PerplexityCommand.Create(),
            LogitsCommand.Create(),
            SynthCommand.Create(),
            DevicesCommand.Create(),
            PruneCommand.Create(),
            ContinualCommand.Create(),
            BenchCommand.Create(),
            CompactCommand.Create(),
            CompactCommand.CreateDensify(),
        };
        root.Subcommands.Add(CreateHelp(root));
        OptionRules.Apply(root);
        WrapHelpWhereNoTerminal(root);
        return root;
    }

    /// <summary>The width help is wrapped to where its output goes to no terminal (a pipe, a pager, a file).</summary>
    internal const int RedirectedHelpWidth = 80;

    /// <summary>
    /// At a terminal System.CommandLine wraps help to the window's width; anywhere else it wraps nothing, so
    /// <c>copal prune --help | less</c> showed descriptions as single lines of up to 560 characters. There it wraps
    /// at <see cref="RedirectedHelpWidth"/> columns, the width a pager or an editor is sure to show.
    /// </summary>
    private static void WrapHelpWhereNoTerminal(RootCommand root)
    {
        if (Console.IsOutputRedirected && root.Options.OfType<HelpOption>().Single().Action is HelpAction help)
        {
            help.MaxWidth = RedirectedHelpWidth;
        }
    }

    /// <summary><c>copal help [command]</c>: the help of copal or of one command, on stdout.</summary>
    private static Command CreateHelp(RootCommand root)
    {
        var names = new Argument<string[]>("command") { Arity = ArgumentArity.ZeroOrMore, Description = "The command to describe, e.g. prune or bench kernels" };
        var help = new Command("help", "Show the commands, or one command's options") { names };
        help.SetAction(p =>
        {
            string[] path = p.GetValue(names) ?? [];
            Command current = root;
            for (int i = 0; i < path.Length; i++)
            {
                Command? next = current.Subcommands.FirstOrDefault(c => c.Name == path[i] || c.Aliases.Contains(path[i]));
                if (next is null)
                {
                    // The word that names nothing, and what stands in its place: the commands, or the command's own.
                    string known = string.Join(' ', path[..i]);
                    List<string> commands = [.. current.Subcommands.Select(c => c.Name)];
                    Console.Error.WriteLine(i == 0
                        ? $"copal: error: copal help: unknown command '{path[i]}'; the commands are {OptionRules.Alternatives(commands)}"
                        : commands.Count == 0
                            ? $"copal: error: copal help: {known} has no command '{path[i]}'; it takes options only (copal help {known})"
                            : $"copal: error: copal help: {known} has no command '{path[i]}'; its commands are {OptionRules.Alternatives(commands)}");
                    Console.Error.WriteLine(CliErrors.HelpPointer(null));
                    return CliErrors.Usage;
                }
                current = next;
            }
            return root.Parse([.. path, "--help"]).Invoke();
        });
        return help;
    }

    /// <summary>Where on the command line the value of <paramref name="result"/> was typed: the index of its option's name, or of the argument's first word.</summary>
    private static int TypedAt(ParseResult parsed, SymbolResult? result)
    {
        Token? token = result switch
        {
            OptionResult o => o.IdentifierToken,
            ArgumentResult { Parent: OptionResult o } => o.IdentifierToken,
            ArgumentResult a => a.Tokens.Count > 0 ? a.Tokens[0] : null,
            _ => null,
        };
        for (int i = 0; token is not null && i < parsed.Tokens.Count; i++)
        {
            if (ReferenceEquals(parsed.Tokens[i], token))
            {
                return i;
            }
        }
        return int.MaxValue;
    }

    /// <summary>
    /// The one line a command line's problems are reported as: a word that is not a command or option of the command
    /// reached, else the first bad value in the order typed, else every required option not given, together.
    /// </summary>
    internal static string FirstUsageError(ParseResult parsed)
    {
        Command reached = parsed.CommandResult.Command;
        // A word like an option that a positional argument took (the model of inspect, compact and densify): an unknown
        // option, named before the words after it (its value, left unmatched).
        if (parsed.CommandResult.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).FirstOrDefault(t => CommonOptions.IsOptionLike(t.Value)) is Token optionLike)
        {
            return CommonOptions.UnknownOption(optionLike.Value);
        }
        if (parsed.UnmatchedTokens.Count > 0)
        {
            string token = parsed.UnmatchedTokens[0];
            var commands = reached.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
            return token.StartsWith('-') ? CommonOptions.UnknownOption(token)
                : commands.Count > 0 ? $"unknown command '{token}'; the commands are {OptionRules.Alternatives(commands)}"
                : $"unexpected argument '{token}'";
        }
        // A required option that was not given has a result too, with no identifier typed.
        static bool Typed(SymbolResult? r) => r switch
        {
            OptionResult o => o.IdentifierToken is not null,
            ArgumentResult a => a.Parent is not OptionResult || Typed(a.Parent),
            _ => false,
        };
        // The first in the order typed: System.CommandLine lists the errors in the order the command declares its options.
        if (parsed.Errors.Where(e => Typed(e.SymbolResult)).OrderBy(e => TypedAt(parsed, e.SymbolResult)).FirstOrDefault() is ParseError value)
        {
            return CountProblem(value.SymbolResult) ?? value.Message;
        }
        var missing = reached.Options.Where(o => o.Required && !Typed(parsed.GetResult(o)))
            .Select(o => string.Join('/', new[] { o.Name }.Concat(o.Aliases).Distinct().OrderBy(a => a.Length).ThenBy(a => a, StringComparer.Ordinal)))
            .ToList();
        if (missing.Count > 0)
        {
            return missing.Count == 1 ? $"the option {missing[0]} is required"
                : $"the options {string.Join(", ", missing.Take(missing.Count - 1))} and {missing[^1]} are required";
        }
        return parsed.Errors[0].Message;
    }

    /// <summary>
    /// An option typed without its value, or given twice where it takes one, in the words of every other usage error
    /// (the option as typed, what it expects, what it got) rather than System.CommandLine's own; null for any other error.
    /// </summary>
    private static string? CountProblem(SymbolResult? result)
    {
        if ((result as OptionResult ?? result?.Parent as OptionResult) is not { IdentifierToken: Token typed } option
            || option.Option.Arity.MaximumNumberOfValues == 0)
        {
            return null;
        }
        if (option.Tokens.Count == 0)
        {
            return $"{typed.Value}: expected a value, got none";
        }
        return option.Option.Arity.MaximumNumberOfValues == 1 && option.Tokens.Count > 1
            ? $"{typed.Value}: expected one value, got {option.Tokens.Count} ({string.Join(", ", option.Tokens.Select(t => OptionRules.Shown(t.Value)))}); give the option once"
            : null;
    }
}
