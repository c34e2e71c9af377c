using System.Diagnostics;

namespace Copal.Cli.Tests;

/// <summary>Runs the real <c>copal</c> binary (copied beside the tests) as a child process.</summary>
internal static class CopalProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => Run(null, args);

    /// <summary>Runs with <paramref name="stdin"/> written to the child's standard input (then closed).</summary>
    public static Result RunWithInput(string stdin, params string[] args) => Run(null, stdin, args);

    public static Result Run(Action<Process>? whileRunning, params string[] args) => Run(whileRunning, null, args);

    private static Result Run(Action<Process>? whileRunning, string? stdin, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            StandardInputEncoding = new System.Text.UTF8Encoding(false),
            StandardOutputEncoding = System.Text.Encoding.UTF8,
            StandardErrorEncoding = System.Text.Encoding.UTF8,
            UseShellExecute = false,
            WorkingDirectory = Copal.Testing.TestData.RepoRoot,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "copal.dll"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
        }
        p.StandardInput.Close();
        whileRunning?.Invoke(p);
        if (!p.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"copal {string.Join(' ', args)} did not finish");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
