using System.Diagnostics;
using System.Text;

namespace Copal.Cli.Tests;

/// <summary>Runs the real <c>copal</c> binary (copied beside the tests) as a child process.</summary>
internal static class CopalProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Result Run(params string[] args) => Start(null, null, null, args);

    public static Result Run(Action<Process>? whileRunning, params string[] args) => Start(whileRunning is null ? null : (p, _) => whileRunning(p), null, null, args);

    /// <summary>As <see cref="Run(Action{Process}?, string[])"/>, where the action may also read what the child wrote to stderr so far.</summary>
    public static Result Run(Action<Process, Func<string>> whileRunning, params string[] args) => Start(whileRunning, null, null, args);

    /// <summary>Runs with <paramref name="stdin"/> written to the child's standard input (then closed).</summary>
    public static Result RunWithInput(string stdin, params string[] args) => Start(null, null, stdin, args);

    /// <summary>
    /// Runs with standard input held open, as a terminal or an idle pipe leaves it, while <paramref name="whileRunning"/>
    /// acts; only then is <paramref name="stdin"/> written to a child still running and its input closed.
    /// </summary>
    public static Result RunHoldingInput(Action<Process> whileRunning, string stdin, params string[] args) => Start((p, _) => whileRunning(p), null, stdin, args, holdInput: true);

    /// <summary>As <see cref="RunHoldingInput"/>, from <c>bash -c</c> after <paramref name="shellSetup"/> (e.g. <c>exec 2&gt;FILE</c>).</summary>
    public static Result RunHoldingInputInShell(string shellSetup, Action<Process> whileRunning, string stdin, params string[] args) =>
        Start((p, _) => whileRunning(p), shellSetup, stdin, args, holdInput: true);

    /// <summary>
    /// Runs copal from <c>bash -c</c> after <paramref name="shellSetup"/> (e.g. <c>ulimit</c>, <c>trap</c>), so limits
    /// and ignored signals apply to copal itself.
    /// </summary>
    public static Result RunInShell(string shellSetup, params string[] args) => Start(null, shellSetup, null, args);

    /// <summary>As <see cref="RunInShell(string, string[])"/>, while <paramref name="whileRunning"/> acts (and may read the child's stderr so far).</summary>
    public static Result RunInShell(string shellSetup, Action<Process, Func<string>> whileRunning, params string[] args) => Start(whileRunning, shellSetup, null, args);

    /// <summary>Runs with <paramref name="environment"/>'s variables set in the child's environment (a null value removes one).</summary>
    public static Result RunWithEnvironment(IReadOnlyDictionary<string, string?> environment, params string[] args) => Start(null, null, null, args, environment: environment);

    /// <summary>
    /// Runs copal as a process that file permissions bind. Root reads a file whatever its mode (CAP_DAC_OVERRIDE), so
    /// as root copal runs under <c>setpriv</c> with those capabilities dropped; see <see cref="UnreadableFileFactAttribute"/>.
    /// </summary>
    public static Result RunBoundByPermissions(params string[] args) => Environment.IsPrivilegedProcess
        ? RunInShell("exec setpriv --bounding-set=-dac_override,-dac_read_search --inh-caps=-dac_override,-dac_read_search dotnet \"$@\"", args)
        : Run(args);

    private static Result Start(Action<Process, Func<string>>? whileRunning, string? shellSetup, string? stdin, string[] args, bool holdInput = false, IReadOnlyDictionary<string, string?>? environment = null)
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
        foreach ((string name, string? value) in environment ?? new Dictionary<string, string?>())
        {
            psi.Environment[name] = value;
        }
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "copal.dll"));
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using Process p = Process.Start(psi)!;
        Task<string> stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = new StringBuilder();
        Task stderrRead = Task.Run(() => Collect(p.StandardError, stderr));
        string StderrSoFar()
        {
            lock (stderr)
            {
                return stderr.ToString();
            }
        }
        try
        {
            if (holdInput)
            {
                whileRunning?.Invoke(p, StderrSoFar);
                CloseInput(p, stdin);
            }
            else
            {
                CloseInput(p, stdin);
                whileRunning?.Invoke(p, StderrSoFar);
            }
        }
        catch
        {
            // A failed assertion in the action: the child (stopped by a SIGSTOP, or waiting on input) would otherwise
            // outlive the test, holding its files and locks; SIGKILL ends a stopped process too.
            try
            {
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // Gone already: the action's own failure is what the test reports.
            }
            throw;
        }
        if (ChildWait.ForExit(p) is string hung)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"copal {string.Join(' ', args)} did not finish: {hung}");
        }
        stderrRead.Wait();
        return new Result(p.ExitCode, stdout.Result, StderrSoFar());
    }

    // Reads the child's stderr as it comes, so an action can wait for a line the child writes while it runs.
    private static void Collect(StreamReader from, StringBuilder into)
    {
        char[] buffer = new char[4096];
        for (int n; (n = from.Read(buffer, 0, buffer.Length)) > 0;)
        {
            lock (into)
            {
                into.Append(buffer, 0, n);
            }
        }
    }

    private static void CloseInput(Process p, string? stdin)
    {
        try
        {
            if (stdin is not null && !p.HasExited)
            {
                p.StandardInput.Write(stdin);
            }
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // The child has gone and closed its end of the pipe.
        }
    }

    /// <summary>
    /// Waits until copal's signal handlers are in place: SIGHUP, the last one it registers, is caught
    /// (/proc/PID/status SigCgt). A signal sent earlier would meet the runtime's defaults instead. False when the
    /// child ended first or the state cannot be read.
    /// </summary>
    public static bool WaitForSignalHandlers(Process p)
    {
        var clock = Stopwatch.StartNew();
        while (!p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(2))
        {
            string? line;
            try
            {
                line = File.ReadLines($"/proc/{p.Id}/status").FirstOrDefault(l => l.StartsWith("SigCgt:", StringComparison.Ordinal));
            }
            catch (IOException)
            {
                return false;
            }
            if (line is not null && ulong.TryParse(line["SigCgt:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, null, out ulong caught)
                && (caught & 1UL) != 0)
            {
                return true;
            }
            Thread.Sleep(20);
        }
        return false;
    }
}
