using System.Text.Json;
using Copal.Cli.Commands;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// <c>copal bench</c>'s decode profile: on a backend that times its own queue (a GPU, or ILGPU's CPU accelerator
/// here) each op's device time, the host's issue time beside it and the device's busy share; on the CPU backend the
/// synchronized wall time alone. Either way a matmul's row gives its weight stream rate.
/// </summary>
public sealed class BenchProfileTests
{

    [Fact]
    public void On_ilgpu_cpu_the_profile_keeps_device_and_issue_time_apart()
    {
        JsonElement r = BenchRuns.Json("ilgpu-cpu");
        Assert.Equal("device", r.GetProperty("profile_clock").GetString());
        Assert.Equal(3, r.GetProperty("profile_tokens").GetInt32());
        Assert.Equal(0, r.GetProperty("profile_uncovered_calls").GetInt64());
        // ILGPU's CPU accelerator runs each launch on the cores that time it, so its ops may sum to more than a token:
        // the share is then null, with the reason (BusyShare's own test covers the rule).
        if (r.GetProperty("device_busy_share").ValueKind == JsonValueKind.Null)
        {
            Assert.StartsWith("the ops timed one at a time took ", r.GetProperty("not_measured").GetProperty("device_busy_share").GetString(), StringComparison.Ordinal);
        }
        else
        {
            double share = r.GetProperty("device_busy_share").GetDouble();
            Assert.True(share > 0 && share <= 1, $"device_busy_share {share}");
        }
        Assert.True(r.GetProperty("issue_milliseconds_per_token").GetDouble() > 0);
        JsonElement[] rows = [.. r.GetProperty("decode_profile").EnumerateArray()];
        // stories260K has 5 layers; on ILGPU a decode layer's q, k and v are one fused launch, as are gate, up and SiLU·mul.
        Assert.Equal(5, rows.Single(x => x.GetProperty("op").GetString() == "matmul q_proj+k_proj+v_proj").GetProperty("calls_per_token").GetInt64());
        Assert.Equal(5, rows.Single(x => x.GetProperty("op").GetString() == "matmul gate_proj+up_proj, silu·mul").GetProperty("calls_per_token").GetInt64());
        Assert.DoesNotContain(rows, x => x.GetProperty("op").GetString() is "matmul q_proj" or "silu·mul" or "rope");
        Assert.All(rows, x => Assert.True(x.GetProperty("issue_milliseconds_per_token").GetDouble() >= 0, x.ToString()));
        Assert.All(rows.Where(x => x.GetProperty("op").GetString()!.StartsWith("matmul", StringComparison.Ordinal) || x.GetProperty("op").GetString() == "lm_head"),
            x => Assert.True(x.GetProperty("gb_per_second").GetDouble() > 0, x.ToString()));
        Assert.All(rows.Where(x => x.GetProperty("op").GetString() is "rmsnorm" or "attention"), x => Assert.Equal(JsonValueKind.Null, x.GetProperty("gb_per_second").ValueKind));
    }

    [Fact]
    public void On_the_cpu_the_profile_is_wall_time_with_no_issue_column()
    {
        JsonElement r = BenchRuns.Json("cpu");
        Assert.Equal("wall", r.GetProperty("profile_clock").GetString());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("device_busy_share").ValueKind);
        JsonElement[] rows = [.. r.GetProperty("decode_profile").EnumerateArray()];
        Assert.All(rows, x => Assert.Equal(JsonValueKind.Null, x.GetProperty("issue_milliseconds_per_token").ValueKind));
        Assert.True(rows.Single(x => x.GetProperty("op").GetString() == "lm_head").GetProperty("gb_per_second").GetDouble() > 0);
        // The CPU runs the fused ops as their plain ops, and the profile shows each.
        Assert.Equal(5, rows.Single(x => x.GetProperty("op").GetString() == "matmul q_proj").GetProperty("calls_per_token").GetInt64());
        Assert.Equal(10, rows.Single(x => x.GetProperty("op").GetString() == "rope").GetProperty("calls_per_token").GetInt64());
        // The run's KV cache holds --prefill 8 + --decode 3 positions: stories260K's 5 layers × K and V × 4 KV heads of 8, as f32.
        // Exactly (json-outputs.md: the cache for context_positions): "at least" took a cache of the model's whole context.
        Assert.Equal(11, r.GetProperty("context_positions").GetInt32());
        Assert.Equal(11L * 5 * 2 * 32 * 4, r.GetProperty("kv_cache_bytes").GetInt64());
    }

    [Fact]
    public void A_device_clock_that_fails_leaves_the_rates_and_a_wall_clock_profile_that_says_why()
    {
        ModelBenchResult r = BenchModel.Run(TestData.Stories260K, new RefusingTimerBackend(), prefill: 8, decode: 3, repeat: 1, quiet: true);
        Assert.True(r.DecodeTokensPerSecond > 0 && r.PrefillTokensPerSecond > 0);
        Assert.Equal("wall", r.ProfileClock);
        Assert.Contains("markers are not supported here", r.ProfileNote, StringComparison.Ordinal);
        Assert.Null(r.DeviceBusyShare);
        Assert.Equal(3, r.ProfileTokens);
        Assert.Contains(r.DecodeProfile, row => row.Op == "lm_head" && row.CallsPerToken == 1);
        // The table says why too, under its heading: a reader of the text sees a wall-clock profile where a device one was expected.
        string[] lines = Report(r);
        Assert.Equal("decode profile (3 more tokens, each op synchronized):", lines[0]);
        Assert.Equal($"  ({r.ProfileNote})", lines[1]);

        // On a device clock the summary follows the rows; the line on calls issued slower than the hold only when there were some.
        ModelBenchResult device = r with { ProfileClock = "device", ProfileNote = null, DeviceBusyShare = 0.5, IssueMillisecondsPerToken = 0.1, ProfileUncoveredCalls = 0 };
        Assert.Contains(Report(device), l => l.StartsWith("  a decode token: ", StringComparison.Ordinal));
        Assert.DoesNotContain(Report(device), l => l.Contains("timed calls were issued", StringComparison.Ordinal));
        Assert.Contains("  2 timed calls were issued more slowly than the hold lasted: their device time includes some issue time", Report(device with { ProfileUncoveredCalls = 2 }));
    }

    /// <summary>
    /// A device is busy for at most all of a token: ops that sum to more were slowed by their timing (144 % was printed
    /// on ILGPU's CPU accelerator), so the share is not known, and the summary line and not_measured say so.
    /// </summary>
    [Fact]
    public void A_busy_share_above_the_whole_token_is_not_known_and_says_why()
    {
        Assert.Equal((0.25, null), BenchModel.BusyShare(1.0, 4.0));
        Assert.Equal((1.0, null), BenchModel.BusyShare(4.0, 4.0));
        (double? share, string? why) = BenchModel.BusyShare(58.364, 40.432);
        Assert.Null(share);
        Assert.Equal("the ops timed one at a time took 58.364 ms a token, more than a timed decode token's 40.432 ms: timing them slowed them, so how busy the device keeps is not known", why);

        ModelBenchResult r = BenchModel.Run(TestData.Stories260K, new RefusingTimerBackend(), prefill: 8, decode: 3, repeat: 1, quiet: true);
        ModelBenchResult unknown = r with { ProfileClock = "device", ProfileNote = null, DeviceBusyShare = null, IssueMillisecondsPerToken = 0.1 };
        string summary = Report(unknown).Single(l => l.StartsWith("  a decode token: ", StringComparison.Ordinal));
        Assert.Contains("(more than the token: timed one at a time the ops ran slower, so how busy the device keeps is not known)", summary, StringComparison.Ordinal);
        Assert.DoesNotContain("%", summary, StringComparison.Ordinal);
    }

    // The lines BenchProfileReport prints for a result.
    private static string[] Report(ModelBenchResult result)
    {
        TextWriter stdout = Console.Out;
        var text = new StringWriter();
        Console.SetOut(text);
        try
        {
            BenchProfileReport.Write(result);
        }
        finally
        {
            Console.SetOut(stdout);
        }
        return text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>A backend that says it times its queue, whose timer the driver refuses.</summary>
    private sealed class RefusingTimerBackend() : CpuBackend(1), IDeviceTimer
    {
        public void Begin() => throw new NotSupportedException("markers are not supported here");

        public DeviceTiming End() => throw new InvalidOperationException("no timed span is open");
    }
}
