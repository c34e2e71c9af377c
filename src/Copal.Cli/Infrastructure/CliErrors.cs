using Copal.Model.Config;
using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Tensors.Safetensors;

namespace Copal.Cli.Infrastructure;

/// <summary>Turns exceptions into the one readable line and the exit code a person sees.</summary>
internal static class CliErrors
{
    public const int Ok = 0;
    public const int Failure = 1;
    public const int Usage = 2;
    public const int Cancelled = 130;

    /// <summary>Writes the error and returns the exit code. A stack trace only with COPAL_DEBUG=1.</summary>
    public static int Report(Exception e, TextWriter stderr)
    {
        if (e is AggregateException { InnerExceptions.Count: 1 } agg)
        {
            e = agg.InnerExceptions[0];
        }
        if (e is OperationCanceledException)
        {
            stderr.WriteLine("copal: cancelled; no partial output was left behind");
            return Cancellation.ExitCode;
        }
        bool debug = Environment.GetEnvironmentVariable("COPAL_DEBUG") == "1";
        string message = e switch
        {
            UsageException => e.Message,
            Copal.Prune.Continual.CopalStateException => e.Message,
            ModelConfigException or ModelLoadException or SafetensorsException or TokenizerException => e.Message,
            FileNotFoundException or DirectoryNotFoundException or IOException or UnauthorizedAccessException => e.Message,
            InvalidDataException or ArgumentException or InvalidOperationException or NotSupportedException => e.Message,
            _ => $"internal error ({e.GetType().Name}): {e.Message}",
        };
        stderr.WriteLine($"copal: error: {message}");
        if (debug)
        {
            stderr.WriteLine(e.ToString());
        }
        return e is UsageException ? Usage : Failure;
    }
}

/// <summary>A bad option value or combination: exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
