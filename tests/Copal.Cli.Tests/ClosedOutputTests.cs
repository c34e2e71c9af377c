using System.Diagnostics;
using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// `copal generate ... | head` stops once nobody reads its text (docs/cli.md): .NET ignores SIGPIPE and its console drops
/// the writes that fail, so generate went on to -n for nobody, which on a large model is minutes of work.
/// </summary>
public sealed partial class ClosedOutputTests : IDisposable
{
    private readonly TempDir _temp = new("copal-pipe-");

    public void Dispose() => _temp.Dispose();

    [LinuxFact]
    public void Generate_stops_with_141_when_the_reader_of_its_output_exits()
    {
        // A context far longer than a test may wait for: only a stop at the closed pipe ends the run in time.
        string model = TestData.CopyOfStories260K(_temp.File("model"));
        string config = Path.Combine(model, "config.json");
        File.WriteAllText(config, ContextField().Replace(File.ReadAllText(config), "\"max_position_embeddings\": 2000000"));
        string head = _temp.File("head.txt");
        // `timeout` only bounds a run that never stops (124, a failure); the exit code of copal itself is printed.
        (string status, string stderr) = CutByHead(16, head, "generate", "-m", model, "-n", "1999000", "--device", "cpu");
        Assert.True(status == "141", $"exit {status}: {stderr}");
        Assert.Equal("Once upon a time", File.ReadAllText(head));
        Assert.EndsWith("copal: standard output was closed (its reader exited); stopping...\ncopal: cancelled\n", stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// Every command's standard output, not generate's alone: one whose reader has exited before copal writes (a FIFO
    /// whose only reader closed, so the outcome is not a race) stops with 141 and the notice. They exited 0 with their
    /// output lost (tokenize, logits -o -, the --json documents).
    /// </summary>
    [LinuxTheory]
    [InlineData("tokenize", "-t", "Once upon a time")]
    [InlineData("tokenize", "--json", "-t", "Once upon a time")]
    [InlineData("detokenize", "--ids", "1 2 3")]
    [InlineData("inspect")]
    [InlineData("inspect", "--json")]
    [InlineData("logits", "-t", "Once upon a time", "--top-k", "3", "-o", "-")]
    [InlineData("generate", "--json", "-n", "3", "--device", "cpu")]
    [InlineData("perplexity", "--json", "--seqlen", "8", "--data", "TEXT")]
    public void Every_command_stops_with_141_when_the_reader_of_its_output_has_exited(string command, params string[] rest)
    {
        string text = _temp.File("text.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("Once upon a time there was a little girl. ", 20)));
        string fifo = _temp.File("fifo");
        // Opened for reading and writing (so opening it for writing does not wait), then the reader closed: standard
        // output is a pipe that no one can read.
        string closedReader = $"mkfifo '{fifo}' && exec 3<>'{fifo}' 4>'{fifo}' 3<&- 1>&4 4>&-";
        string[] args = [command, "-m", TestData.Stories260K, .. rest.Select(a => a == "TEXT" ? text : a)];
        CopalProcess.Result r = CopalProcess.RunInShell(closedReader, args);
        Assert.True(r.ExitCode == 141, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.Contains("copal: standard output was closed (its reader exited); stopping...\n", r.Stderr, StringComparison.Ordinal);
    }

    // Standard output a pipe whose only reader has closed it before copal starts (so the outcome is not a race).
    private string ClosedReader()
    {
        string fifo = _temp.File("fifo");
        return $"mkfifo '{fifo}' && exec 3<>'{fifo}' 4>'{fifo}' 3<&- 1>&4 4>&-";
    }

    private const string ClosedNotice = "copal: standard output was closed (its reader exited); stopping...\n";

    /// <summary>
    /// Help and the version, which System.CommandLine writes itself, not a command's body: the notice said "stopping"
    /// and the run exited 0 with the help lost (`copal --help | head -1` whose head had exited).
    /// </summary>
    [LinuxTheory]
    [InlineData("--help")]
    [InlineData("prune", "--help")]
    [InlineData("bench", "kernels", "-h")]
    [InlineData("help", "prune")]
    [InlineData("--version")]
    [InlineData]
    public void Help_stops_with_141_when_the_reader_of_its_output_has_exited(params string[] args)
    {
        CopalProcess.Result r = CopalProcess.RunInShell(ClosedReader(), args);
        Assert.True(r.ExitCode == 141, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.Equal(ClosedNotice, r.Stderr);
    }

    /// <summary>
    /// tokenize's count of tokens is the end of its report: after the notice that the run stops, it told of ids no one
    /// read, as if the run had gone on.
    /// </summary>
    [LinuxFact]
    public void Tokenize_says_no_count_after_the_notice()
    {
        CopalProcess.Result r = CopalProcess.RunInShell(ClosedReader(), ["tokenize", "-m", TestData.Stories260K, "-t", "Once upon a time"]);
        Assert.True(r.ExitCode == 141, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.Equal(ClosedNotice, r.Stderr);
    }

    /// <summary>
    /// `logits -o /dev/stdout` names standard output by a path: it was opened as a file, past the closed-output check,
    /// and where the reader had gone the open waited for one without end, deaf to the first SIGTERM. It is written as
    /// standard output, as `-o -` is.
    /// </summary>
    [LinuxFact]
    public void Logits_to_a_path_of_standard_output_stops_with_141_when_its_reader_has_exited()
    {
        CopalProcess.Result r = CopalProcess.RunInShell(ClosedReader(), ["logits", "-m", TestData.Stories260K, "-t", "Once upon a time", "--top-k", "3", "-o", "/dev/stdout"]);
        Assert.True(r.ExitCode == 141, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.EndsWith(ClosedNotice + "copal: cancelled\n", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// `copal tokenize -f big | head -c 10` as typed in a shell: ids far beyond a pipe's buffer, so the reader exits
    /// with most of them unwritten. It exited 0.
    /// </summary>
    /// <summary>
    /// logits' "wrote N positions to standard output" is the end of its report, as tokenize's count is: after the notice
    /// that the run stops, it told of a document no one read. One block of positions (under 64 tokens) is computed
    /// before any row is written, and its full rows are far more than a pipe holds, so the reader (head, which cannot
    /// exit before the first bytes come) is gone while the rows are still being written, whatever the timing.
    /// </summary>
    [LinuxTheory]
    [InlineData("-")]
    [InlineData("/dev/stdout")]
    public void Logits_says_no_wrote_line_after_the_notice(string output)
    {
        string head = _temp.File("head.txt");
        (string status, string stderr) = CutByHead(10, head, "logits", "-m", TestData.Stories260K, "-t", string.Concat(Enumerable.Repeat("Once upon a time there was a little girl. ", 4)), "-o", output, "--device", "cpu");
        Assert.True(status == "141", $"exit {status}: {stderr}");
        Assert.Equal("{\"ids\":[1,", File.ReadAllText(head));
        Assert.EndsWith(ClosedNotice, stderr, StringComparison.Ordinal);
    }

    [LinuxFact]
    public void Tokenize_cut_off_by_head_exits_141()
    {
        string text = _temp.File("big.txt");
        File.WriteAllText(text, string.Concat(Enumerable.Repeat("Once upon a time there was a little girl. ", 6000)));
        string head = _temp.File("head.txt");
        (string status, string stderr) = CutByHead(10, head, "tokenize", "-m", TestData.Stories260K, "-f", text);
        Assert.True(status == "141", $"exit {status}: {stderr}");
        Assert.Equal(10, File.ReadAllText(head).Length);
    }

    /// <summary>
    /// Runs <c>copal ARGS | head -c BYTES &gt; HEAD</c> in bash and gives copal's own exit code (bash's PIPESTATUS) and
    /// its standard error. <c>timeout</c> only bounds a run that never stops (124, a failure).
    /// </summary>
    private static (string Status, string Stderr) CutByHead(int bytes, string head, params string[] copalArgs)
    {
        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = TestData.RepoRoot,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"timeout 120 dotnet \"$1\" \"${{@:3}}\" | head -c {bytes} > \"$2\"; echo \"${{PIPESTATUS[0]}}\"");
        psi.ArgumentList.Add("bash");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "copal.dll"));
        psi.ArgumentList.Add(head);
        foreach (string a in copalArgs)
        {
            psi.ArgumentList.Add(a);
        }
        using Process p = Process.Start(psi)!;
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string status = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return (status, stderr.Result);
    }

    [GeneratedRegex("\"max_position_embeddings\": *512")]
    private static partial Regex ContextField();
}
