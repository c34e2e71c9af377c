using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// continual's texts are tokenized before any work, with their progress on one line (docs/cli.md: "copal: tokenizing
/// NAME (calibration): done of total characters"). A finished line ends on its last update, as every progress line
/// does: redirected, the rate limit held back all but the first ("copal: tokenizing a"), and the line never said the
/// texts were done.
/// </summary>
public sealed class ContinualTokenizingProgressTests : IDisposable
{
    private readonly TempDir _temp = new("copal-conttok-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void The_tokenizing_line_ends_on_the_last_text_done()
    {
        // An evaluation text too short for one window: refused (exit 2) right after the tokenizing, before any work.
        string eval = _temp.File("short.txt");
        File.WriteAllText(eval, "Once upon a time.\n");
        CopalProcess.Result r = CopalProcess.Run("continual", "-m", TestData.Stories260K, "--datasets", $"a={TestData.Path("text", "tinystories", "calib.txt")}:{eval}",
            "--methods", "magnitude", "--sparsity", "0.5", "--nsamples", "1", "--seqlen", "64", "--no-joint", "-o", _temp.File("report"), "--device", "cpu");

        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}; stderr: {r.Stderr}");
        string[] tokenizing = r.Stderr.Split('\n').Where(l => l.StartsWith("copal: tokenizing ", StringComparison.Ordinal)).ToArray();
        Assert.Matches(new Regex(@"^copal: tokenizing a \(evaluation\): (\S+) of \1 characters$"), tokenizing[^1]);
    }
}
