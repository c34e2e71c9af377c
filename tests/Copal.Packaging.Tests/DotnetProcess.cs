using System.Diagnostics;

namespace Copal.Packaging.Tests;

/// <summary>Runs the <c>dotnet</c> command line as a child process, with its output captured.</summary>
internal static class DotnetProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit code {ExitCode}\n{Stdout}\n{Stderr}";
    }

    /// <summary>
    /// Runs <c>dotnet ARGS</c> in <paramref name="workingDirectory"/>. MSBuild node reuse is off, so no build process
    /// outlives the command (or holds its output open); <paramref name="timeout"/> only guards against a hang.
    /// </summary>
    public static Result Run(string workingDirectory, TimeSpan timeout, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {string.Join(' ', args)} did not finish in {timeout.TotalMinutes} minutes");
        }
        if (!Task.WaitAll([stdout, stderr], TimeSpan.FromMinutes(1)))
        {
            throw new TimeoutException($"dotnet {string.Join(' ', args)} exited but a process it started kept its output open");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
