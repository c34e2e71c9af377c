using System.CommandLine;
using System.Runtime.InteropServices;
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

    public static Option<bool> AllowNonFinite() => new("--allow-nonfinite")
    {
        Description = "Load weights that hold NaN or Inf (refused by default); a run still stops at the first non-finite logits",
    };

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
                StaleTemporaries.Sweep(parseResult);
                return Task.FromResult(body(parseResult, Cancellation.Token));
            }
            catch (Exception e)
            {
                return Task.FromResult(CliErrors.Report(e, Console.Error));
            }
        });
    }
}

/// <summary>
/// Ctrl-C, SIGTERM and SIGHUP cancel the running command cooperatively, so outputs are cleaned up rather than cut
/// off. The first one cancels; a second lets the runtime end the process at once (what that leaves behind, the next
/// run removes: <see cref="StaleTemporaries"/>).
/// </summary>
internal static class Cancellation
{
    private static readonly CancellationTokenSource s_source = new();
    private static readonly List<PosixSignalRegistration> s_registrations = [];
    private static int s_requests;
    private static int s_exitCode = CliErrors.Cancelled;

    public static CancellationToken Token => s_source.Token;

    /// <summary>The exit code of a cancelled run: 130 for Ctrl-C, 128 + the signal number for the others (143 SIGTERM, 129 SIGHUP), as shells report them.</summary>
    public static int ExitCode => Volatile.Read(ref s_exitCode);

    public static void Install()
    {
        Console.CancelKeyPress += (_, e) => e.Cancel = Request(CliErrors.Cancelled, "copal: cancelling (press Ctrl-C again to abort at once)...");
        foreach ((PosixSignal signal, int number) in new[] { (PosixSignal.SIGTERM, 15), (PosixSignal.SIGHUP, 1) })
        {
            try
            {
                s_registrations.Add(PosixSignalRegistration.Create(signal, context =>
                    context.Cancel = Request(128 + number, $"copal: cancelling on {context.Signal} (send it again to stop at once)...")));
            }
            catch (PlatformNotSupportedException)
            {
                // Not a signal this platform has.
            }
        }
    }

    // True when this request cancels (the default action is suppressed); false for a repeat, which ends the process.
    private static bool Request(int exitCode, string notice)
    {
        if (Interlocked.Increment(ref s_requests) != 1)
        {
            return false;
        }
        Volatile.Write(ref s_exitCode, exitCode);
        Console.Error.WriteLine();
        Console.Error.WriteLine(notice);
        s_source.Cancel();
        return true;
    }
}
