using System.Diagnostics;

namespace Copal.Cli.Tests;

/// <summary>Runs the real <c>copal</c> binary (copied beside the tests) as a child process.</summary>
internal static class CopalProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => Run(null, args);

    public static Result Run(Action<Process>? whileRunning, params string[] args) => Start(whileRunning, null, null, args);

    /// <summary>Runs with <paramref name="stdin"/> written to the child's standard input (then closed).</summary>
    public static Result RunWithInput(string stdin, params string[] args) => Start(null, null, stdin, args);

    /// <summary>
    /// Runs copal from <c>bash -c</c> after <paramref name="shellSetup"/> (e.g. <c>ulimit</c>, <c>trap</c>), so limits
    /// and ignored signals apply to copal itself.
    /// </summary>
    public static Result RunInShell(string shellSetup, params string[] args) => Start(null, shellSetup, null, args);

    private static Result Start(Action<Process>? whileRunning, string? shellSetup, string? stdin, string[] args)
    {
        var psi = new ProcessStartInfo(shellSetup is null ? "dotnet" : "bash")
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
        if (shellSetup is not null)
        {
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add($"{shellSetup}; exec dotnet \"$@\"");
            psi.ArgumentList.Add("bash");
        }
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
