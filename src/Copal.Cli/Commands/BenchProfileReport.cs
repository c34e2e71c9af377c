using Copal.Cli.Infrastructure;

namespace Copal.Cli.Commands;

/// <summary>The decode profile <c>copal bench</c> prints after its table: per op, then (device clock) the summary.</summary>
internal static class BenchProfileReport
{
    public static void Write(ModelBenchResult result)
    {
        bool device = result.ProfileClock == "device";
        Out.Line(device
            ? $"decode profile ({result.ProfileTokens} more tokens; each op's device time between queue markers, the op queued behind a hold so the host's issuing is not in it; issue: the host's time launching it):"
            : $"decode profile ({result.ProfileTokens} more tokens, each op synchronized):");
        if (result.ProfileNote is not null)
        {
            Out.Line($"  ({result.ProfileNote})");
        }
        foreach (ProfileRow row in result.DecodeProfile)
        {
            string issue = row.IssueMillisecondsPerToken is double i ? $"  issue {i,7:F3} ms/token" : "";
            string rate = row.GBPerSecond is double g ? $"  {g,7:F1} GB/s" : "";
            Out.Line($"  {row.Op,-36} {row.MillisecondsPerToken,8:F3} ms/token {row.Share,6:P1}  {row.CallsPerToken,3} calls/token{issue}{rate}");
        }
        if (device && result.IssueMillisecondsPerToken is double issued)
        {
            double token = 1e3 / result.DecodeTokensPerSecond;
            double kernels = result.DecodeProfile.Sum(r => r.MillisecondsPerToken);
            string busy = result.DeviceBusyShare is double share
                ? $"the device busy {share:P0} of it"
                : "more than the token: timed one at a time the ops ran slower, so how busy the device keeps is not known";
            Out.Line($"  a decode token: {token:F3} ms; its ops' device time {kernels:F3} ms ({busy}); issuing them {issued:F3} ms on the host");
            if (result.ProfileUncoveredCalls > 0)
            {
                Out.Line($"  {result.ProfileUncoveredCalls} timed calls were issued more slowly than the hold lasted: their device time includes some issue time");
            }
        }
    }
}
