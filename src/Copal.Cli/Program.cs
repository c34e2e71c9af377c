using System.CommandLine;
using System.CommandLine.Parsing;
using Copal.Cli.Commands;
using Copal.Cli.Infrastructure;

namespace Copal.Cli;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        Cancellation.Install();
        RootCommand root = CreateRoot();
        // `copal` alone asks for nothing: it shows the commands on stdout and exits 0, as `copal --help` does.
        ParseResult parsed = root.Parse(args.Length == 0 ? ["--help"] : args);
        if (parsed.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
        {
            // Usage errors exit with 2, after the one-line reason and where to find the command's options.
            foreach (ParseError error in parsed.Errors)
            {
                Console.Error.WriteLine($"copal: error: {error.Message}");
            }
            Console.Error.WriteLine($"Run '{CommandLine(parsed.CommandResult)} --help' for the options.");
            return CliErrors.Usage;
        }
        // Ctrl-C is handled by Cancellation (cooperative cleanup), not by forced termination.
        var config = new InvocationConfiguration { ProcessTerminationTimeout = null };
        return await parsed.InvokeAsync(config).ConfigureAwait(false);
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
        return root;
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
            foreach (string name in path)
            {
                Command? next = current.Subcommands.FirstOrDefault(c => c.Name == name || c.Aliases.Contains(name));
                if (next is null)
                {
                    Console.Error.WriteLine($"copal: error: copal help: unknown command '{string.Join(' ', path)}'; the commands are "
                        + OptionRules.Alternatives(root.Subcommands.Select(c => c.Name).ToList()));
                    return CliErrors.Usage;
                }
                current = next;
            }
            return root.Parse([.. path, "--help"]).Invoke();
        });
        return help;
    }

    /// <summary>"copal bench kernels" for the command a parse reached ("copal" for the root).</summary>
    private static string CommandLine(CommandResult? command)
    {
        var names = new List<string>();
        for (CommandResult? c = command; c is not null && c.Command is not RootCommand; c = c.Parent as CommandResult)
        {
            names.Insert(0, c.Command.Name);
        }
        return string.Join(' ', ["copal", .. names]);
    }
}
