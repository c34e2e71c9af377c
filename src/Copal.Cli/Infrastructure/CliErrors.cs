using Copal.Model.Config;
using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Prune;
using Copal.Tensors.Backends;
using Copal.Tensors.IO;
using Copal.Tensors.Safetensors;

namespace Copal.Cli.Infrastructure;

/// <summary>Turns exceptions into the one readable line and the exit code a person sees (docs/cli.md).</summary>
internal static class CliErrors
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int Cancelled = 130;

    /// <summary>The reader of standard output exited before reading all of it: 128 + SIGPIPE (13), as a shell shows a command cut off by <c>| head</c>.</summary>
    public const int OutputClosed = 141;

    /// <summary>Writes the error and returns the exit code. A stack trace only with COPAL_DEBUG=1.</summary>
    /// <param name="e">What ended the command.</param>
    /// <param name="stderr">Where the one line goes.</param>
    /// <param name="asTyped">Renames an option in the message as the user typed it.</param>
    /// <param name="writesFiles">Whether the command was given files to write (--out, --state): only then does a
    /// cancellation say that none was left half-written; a server or a command writing to stdout has no such output.</param>
    /// <param name="hasOption">Whether the command has an option (by its name, e.g. <c>--allow-nonfinite</c>): a
    /// remedy names one only where it has it, never one the command would refuse as unknown.</param>
    public static int Report(Exception e, TextWriter stderr, Func<string, string>? asTyped = null, bool writesFiles = true, Func<string, bool>? hasOption = null)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } agg)
        {
            e = agg.InnerExceptions[0];
        }
        if (e is OperationCanceledException)
        {
            stderr.WriteLine(writesFiles ? "copal: cancelled; no partial output was left behind" : "copal: cancelled");
            return Cancellation.ExitCode;
        }
        bool debug = Environment.GetEnvironmentVariable("COPAL_DEBUG") == "1";
        (string message, int code) = e switch
        {
            UsageException => (e.Message, Usage),
            // Another --format runs (nm of a model that is not 2:4); a linear in a dtype no format holds is the input's fault.
            Copal.Model.Weights.CompactFormatException { Option: not null } => (e.Message, Usage),
            Copal.Model.Weights.CompactFormatException => (e.Message, Failure),
            // The library names its options without dashes ("layers"); on the command line they are --layers.
            PruningOptionException p => ($"--{p.Option}: expected {p.Expected}, got {OptionRules.Shown(p.Value)}", Usage),
            DeviceUnavailableException => ($"{e.Message} (`copal devices` lists this machine's devices and why any is refused)", Failure),
            DeviceOutOfMemoryException { Remedy: string remedy } => ($"{e.Message}; {remedy}", Failure),
            DeviceOutOfMemoryException { OnHost: true } => ($"{e.Message}; a compact (pruned) checkpoint or a shorter context needs less", Failure),
            DeviceOutOfMemoryException => ($"{e.Message}; a compact (pruned) checkpoint, a shorter context or --device cpu needs less", Failure),
            // An option that differs from the resumed state's: omitting it runs, so a usage error (as a --layers the state did not prune).
            Copal.Prune.Continual.CopalStateException { Option: not null } => (e.Message, Usage),
            Copal.Prune.Continual.CopalStateException => (e.Message, Failure),
            // No calibration fits the memory (the ones other options would fit are usage errors, made so by the commands).
            Copal.Prune.CalibrationLimitException => (e.Message, Failure),
            // bench and continual have no --allow-nonfinite (they would stop at the first non-finite logits anyway).
            ModelLoadException { NonFiniteWeights: true } when hasOption?.Invoke("--allow-nonfinite") == true =>
                ($"{e.Message}. Pass --allow-nonfinite to load them anyway", Failure),
            ModelConfigException or ModelLoadException or SafetensorsException or TokenizerException => (e.Message, Failure),
            Copal.Model.Weights.NothingToConvertException => (e.Message, Failure),
            Copal.Model.ChatTemplates.ChatTemplateException => (e.Message, Failure),
            FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException => (e.Message, Failure),
            Copal.Model.Generation.NoTokenToChooseException n => (SamplingFailure(n), Failure),
            // Not a bug: the work asked for more memory than the machine (or a limit on the process) gives.
            OutOfMemoryException => ("out of memory: the run needs more memory than this process may use; a shorter text or context, "
                + "a compact (pruned) checkpoint or more memory needs less", Failure),
            ArgumentNullException => (Internal(e), Failure),
            ArgumentException a => (WithoutParameter(a), Failure),
            InvalidDataException or InvalidOperationException or NotSupportedException => (e.Message, Failure),
            _ => (Internal(e), Failure),
        };
        // Messages quote names and values from the files (a tensor name may hold a line break or an escape sequence).
        stderr.WriteLine($"copal: error: {OneLine.Of(asTyped is null ? message : asTyped(message))}");
        if (debug)
        {
            stderr.WriteLine(e.ToString());
        }
        return code;
    }

    /// <summary>
    /// The line that ends every usage error: where the options of the command reached are, e.g.
    /// <c>Run 'copal bench kernels --help' for the options.</c> (<c>copal --help</c> for the root or none).
    /// </summary>
    public static string HelpPointer(System.CommandLine.Parsing.CommandResult? command)
    {
        var names = new List<string>();
        for (var c = command; c is not null && c.Command is not System.CommandLine.RootCommand; c = c.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Insert(0, c.Command.Name);
        }
        return $"Run '{string.Join(' ', ["copal", .. names])} --help' for the options.";
    }

    // The option of `generate` whose step left no token to choose, named as typed: its value is in range, but sent a
    // logit past float's range on these logits.
    private static string SamplingFailure(Copal.Model.Generation.NoTokenToChooseException e) => e.Option switch
    {
        nameof(Copal.Model.Generation.SamplingOptions.RepetitionPenalty) => $"--repetition-penalty: {e.Message}",
        nameof(Copal.Model.Generation.SamplingOptions.PresencePenalty) => $"--presence-penalty: {e.Message}",
        nameof(Copal.Model.Generation.SamplingOptions.FrequencyPenalty) => $"--frequency-penalty: {e.Message}",
        _ => e.Message,
    };

    // A bug of ours, not a bad input: say so and ask for a report.
    private static string Internal(Exception e) =>
        $"internal error ({e.GetType().Name}): {e.Message} — this is a bug in copal; please report it with the command line and the output of COPAL_DEBUG=1";

    // ArgumentException appends " (Parameter 'x')" and ArgumentOutOfRangeException "Actual value was …": code
    // names that mean nothing to a user. The library's messages already name the option and the value.
    private static string WithoutParameter(ArgumentException e)
    {
        string message = e.Message.Split('\n')[0].TrimEnd('\r');
        string suffix = $" (Parameter '{e.ParamName}')";
        return e.ParamName is not null && message.EndsWith(suffix, StringComparison.Ordinal) ? message[..^suffix.Length] : message;
    }
}

/// <summary>A bad option value or combination: exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message)
{
    /// <summary>"--a, --b apply only WHEN (got …)": options given where they would change nothing.</summary>
    public static UsageException ApplyOnly(IReadOnlyCollection<string> given, string when) =>
        new($"{string.Join(", ", given)} {(given.Count == 1 ? "applies" : "apply")} only {when}");
}
