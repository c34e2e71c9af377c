using System.CommandLine;
using Copal.Cli.Commands;
using Copal.Cli.Infrastructure;

namespace Copal.Cli;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        Cancellation.Install();
        RootCommand root = CreateRoot();
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0 && !args.Contains("--help") && !args.Contains("-h"))
        {
            // Usage errors exit with 2, after the one-line reason and the command's usage.
            foreach (System.CommandLine.Parsing.ParseError error in parsed.Errors)
            {
                Console.Error.WriteLine($"copal: error: {error.Message}");
            }
            Console.Error.WriteLine($"Run 'copal {string.Join(' ', args.TakeWhile(a => !a.StartsWith('-')).Take(1))} --help' for the options.");
            return 2;
        }
        // Ctrl-C is handled by Cancellation (cooperative cleanup), not by forced termination.
        var config = new InvocationConfiguration { ProcessTerminationTimeout = null };
        return await parsed.InvokeAsync(config).ConfigureAwait(false);
    }

    /// <summary>The whole command tree.</summary>
    internal static RootCommand CreateRoot() => new("copal: run and prune LLaMA-family models (safetensors + config.json + tokenizer.json) on CPU, OpenCL and CUDA")
    {
        InspectCommand.Create(),
        TokenizeCommand.Create(),
        TokenizeCommand.CreateDetokenize(),
        GenerateCommand.Create(),
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
}
