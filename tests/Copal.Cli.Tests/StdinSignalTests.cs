using System.Diagnostics;
using System.Globalization;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// Ctrl-C and SIGTERM stop a command that waits on standard input (docs/cli.md): exit 130 or 143 and nothing on
/// stdout, while the input is still open, rather than after its end.
/// </summary>
public sealed class StdinSignalTests
{
    private static string Model => TestData.Stories260K;

    [SignalWhenReadyFact(2, "SIGINT")]
    public void Ctrl_c_while_tokenize_reads_stdin_exits_130_with_no_output() =>
        _ = SignalWhileReading("INT", 130, "Lily saw a big red ball.", "tokenize", "-m", Model, "-f", "-");

    [SignalWhenReadyFact(2, "SIGINT")]
    public void Ctrl_c_while_detokenize_reads_stdin_exits_130_with_no_output() =>
        _ = SignalWhileReading("INT", 130, "1 317 394 261 370", "detokenize", "-m", Model, "--ids", "-");

    [SignalWhenReadyFact(15, "SIGTERM")]
    public void SIGTERM_while_tokenize_reads_stdin_exits_143_with_no_output() =>
        _ = SignalWhileReading("TERM", 143, "Lily saw a big red ball.", "tokenize", "-m", Model, "-f", "-");

    [SignalWhenReadyFact(2, "SIGINT")]
    public void Ctrl_c_while_perplexity_reads_stdin_exits_130_with_no_output() =>
        _ = SignalWhileReading("INT", 130, File.ReadAllText(TestData.Path("text", "tinystories", "eval.txt")),
            "perplexity", "-m", Model, "--data", "-", "--seqlen", "128", "--limit-chunks", "1", "--device", "cpu");

    /// <summary>
    /// The notice and the outcome are one line each: with stderr redirected no progress line is drawn in place and no
    /// ^C is echoed, so no empty line comes before the notice (there was one).
    /// </summary>
    [SignalWhenReadyFact(15, "SIGTERM")]
    public void SIGTERM_notice_and_outcome_are_one_line_each()
    {
        CopalProcess.Result r = SignalWhileReading("TERM", 143, "Lily saw a big red ball.", "tokenize", "-m", Model, "-f", "-");
        Assert.Equal("copal: cancelling on SIGTERM (send it again to stop at once)...\ncopal: cancelled\n", r.Stderr);
    }

    /// <summary>
    /// With standard error a file (<c>2&gt; log</c>) the notice and the outcome are both whole. The notice, written by
    /// the signal's handler past the console, once went through a stream that wrote the file at an offset of its own,
    /// and the outcome's line, written at the descriptor's offset, overwrote it ("copal: cancelled\n on SIGTERM ...").
    /// </summary>
    [SignalWhenReadyFact(15, "SIGTERM")]
    public void SIGTERM_notice_and_outcome_are_both_whole_in_a_stderr_file()
    {
        string log = Path.Combine(Path.GetTempPath(), $"copal-stderr-{Guid.NewGuid():N}.log");
        try
        {
            bool ready = false;
            CopalProcess.Result r = CopalProcess.RunHoldingInputInShell($"exec 2>'{log}'", p =>
            {
                ready = CopalProcess.WaitForSignalHandlers(p);
                if (ready)
                {
                    using (Process kill = Process.Start("kill", ["-TERM", p.Id.ToString(CultureInfo.InvariantCulture)]))
                    {
                        kill.WaitForExit();
                    }
                    p.WaitForExit(TimeSpan.FromMinutes(1));
                }
            }, "Lily saw a big red ball.", "tokenize", "-m", Model, "-f", "-");
            Assert.True(ready, $"copal ended before its signal handlers were in place; exit {r.ExitCode}; stderr: {File.ReadAllText(log)}");
            Assert.Equal(143, r.ExitCode);
            Assert.Equal("copal: cancelling on SIGTERM (send it again to stop at once)...\ncopal: cancelled\n", File.ReadAllText(log));
        }
        finally
        {
            File.Delete(log);
        }
    }

    /// <summary>
    /// A command given files to write says none was left half-written; one that writes none (tokenize, above; serve;
    /// generate, whose text is already on stdout) says only that it was cancelled.
    /// </summary>
    [SignalWhenReadyFact(15, "SIGTERM")]
    public void A_cancelled_command_with_an_output_says_none_was_left()
    {
        string output = Path.Combine(Path.GetTempPath(), $"copal-signal-{Guid.NewGuid():N}");
        CopalProcess.Result r = SignalWhileReading("TERM", 143, File.ReadAllText(TestData.Path("text", "tinystories", "eval.txt")),
            "prune", "-m", Model, "-o", output, "--method", "wanda", "--sparsity", "0.5", "--calib", "-", "--nsamples", "2", "--seqlen", "64", "--device", "cpu");
        Assert.EndsWith("copal: cancelled; no partial output was left behind\n", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    /// <summary>
    /// Sends the signal while the child waits on an open, empty standard input, and gives it a minute to end on its own;
    /// only then is <paramref name="input"/> written and the input closed, which a run that ignored the signal would
    /// go on to process.
    /// </summary>
    private static CopalProcess.Result SignalWhileReading(string signal, int exitCode, string input, params string[] args)
    {
        bool ready = false;
        bool endedWhileInputOpen = false;
        CopalProcess.Result r = CopalProcess.RunHoldingInput(p =>
        {
            ready = CopalProcess.WaitForSignalHandlers(p);
            if (ready)
            {
                using (Process kill = Process.Start("kill", [$"-{signal}", p.Id.ToString(CultureInfo.InvariantCulture)]))
                {
                    kill.WaitForExit();
                }
                endedWhileInputOpen = p.WaitForExit(TimeSpan.FromMinutes(1));
            }
        }, input, args);
        Assert.True(ready, $"copal ended before its signal handlers were in place; exit {r.ExitCode}; stderr: {r.Stderr}");
        Assert.True(r.ExitCode == exitCode, $"exit code {r.ExitCode}, expected {exitCode}; stdout: {r.Stdout}; stderr: {r.Stderr}");
        Assert.Equal("", r.Stdout);
        Assert.Contains("cancelled", r.Stderr, StringComparison.Ordinal);
        Assert.True(endedWhileInputOpen, "copal went on reading standard input after the signal");
        return r;
    }
}
