using System.Globalization;

namespace Copal.Cli.Tests;

/// <summary>
/// The helper that runs copal for the tests: a test whose action fails while its child runs (an assertion on a run it
/// stopped with SIGSTOP, as ConcurrentStateTests does) must not leave that child behind, stopped or running, holding
/// its files and locks until the machine restarts.
/// </summary>
public sealed class CopalProcessTests
{
    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void A_child_whose_action_fails_is_ended_with_its_own_children()
    {
        var pids = new List<int>();
        try
        {
            // The shell's setup runs `sleep` before copal starts: a child that would outlive the test, as a stopped run does.
            Assert.Throws<InvalidOperationException>(() => CopalProcess.RunInShell("sleep 600", (p, _) =>
            {
                pids.Add(p.Id);
                Assert.True(SignalledRun.Until(p, () => Children(p.Id).Count > 0), "the shell never started its sleep");
                pids.AddRange(Children(p.Id));
                throw new InvalidOperationException("the test's action failed");
            }, "--version"));

            Assert.Equal(2, pids.Count);
            // SIGKILL takes effect asynchronously: a process killed a moment ago may still be on its way out.
            Assert.All(pids, pid => Assert.True(SpinWait.SpinUntil(() => Gone(pid), TimeSpan.FromSeconds(30)), $"process {pid} was left running"));
        }
        finally
        {
            foreach (int pid in pids.Where(pid => !Gone(pid)))
            {
                SignalledRun.Kill("KILL", pid);
            }
        }
    }

    private static List<int> Children(int pid)
    {
        string children = $"/proc/{pid}/task/{pid}/children";
        return File.Exists(children)
            ? [.. File.ReadAllText(children).Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(c => int.Parse(c, CultureInfo.InvariantCulture))]
            : [];
    }

    // Ended: no such process, or a zombie its parent has not reaped yet (a killed orphan's parent may be a container's init).
    private static bool Gone(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/stat").Split(") ")[^1][0] is 'Z' or 'X';
        }
        catch (IOException)
        {
            return true;
        }
    }
}
