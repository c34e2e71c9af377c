using System.CommandLine;
using Copal.Tensors.Backends;

namespace Copal.Cli.Infrastructure;

/// <summary>Options every command shares, and the glue that runs a command body with error handling.</summary>
internal static class CommonOptions
{
    public static Option<string> Device() => new("--device")
    {
        Description = "Where to compute: auto, cpu, opencl[:N] or cuda[:N] (see `copal devices`)",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<bool> Json() => new("--json") { Description = "Write the result as JSON on stdout" };

    public static Option<string> Model(bool required = true) => new("--model", "-m")
    {
        Description = "Model folder (config.json, *.safetensors, tokenizer.json)",
        Required = required,
    };

    /// <summary>Creates the backend named by --device, with one-time notices on stderr.</summary>
    public static IBackend CreateBackend(string spec) => BackendFactory.Create(spec, message => Out.Info($"copal: {message}"));

    /// <summary>Runs <paramref name="body"/> with Ctrl-C cancellation and turns exceptions into one line and an exit code.</summary>
    public static void SetBody(this Command command, Func<ParseResult, CancellationToken, int> body)
    {
        command.SetAction((parseResult, _) =>
        {
            try
            {
                return Task.FromResult(body(parseResult, Cancellation.Token));
            }
            catch (Exception e)
            {
                return Task.FromResult(CliErrors.Report(e, Console.Error));
            }
        });
    }
}

/// <summary>Ctrl-C cancels the running command cooperatively, so outputs are cleaned up rather than cut off.</summary>
internal static class Cancellation
{
    private static readonly CancellationTokenSource s_source = new();
    private static int s_presses;

    public static CancellationToken Token => s_source.Token;

    public static void Install()
    {
        Console.CancelKeyPress += (_, e) =>
        {
            // First Ctrl-C: cancel cleanly. Second: let the runtime end the process.
            if (Interlocked.Increment(ref s_presses) == 1)
            {
                e.Cancel = true;
                Console.Error.WriteLine();
                Console.Error.WriteLine("copal: cancelling (press Ctrl-C again to abort at once)...");
                s_source.Cancel();
            }
        };
    }
}
