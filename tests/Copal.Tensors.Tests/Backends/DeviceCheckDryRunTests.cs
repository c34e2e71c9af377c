using System.Diagnostics;
using Copal.Testing;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// tools/device-check.sh run where nothing is real: dotnet, nvidia-smi, date and timeout are stand-ins on PATH, the
/// clock moves only when the stand-in build says so, and every time limit the script sets is written down. A GPU is
/// lent for minutes, so the script's bounds are checked here, before one is spent on them.
/// </summary>
public sealed class DeviceCheckDryRunTests
{
    // The stand-ins: a build that fails after 1,000 s of the clock (a restore that waited on sources it could not
    // reach), a bundle whose dotnet does nothing, and a timeout that notes its arguments (on one line) and runs the command.
    private const string Setup = """
        set -e
        mkdir -p bin repo/tools repo/.device shared/data tmp stub/dotnet stub/bundle
        printf '#!/bin/sh\ncat "$FAKE_CLOCK"\n' > bin/date
        printf '#!/bin/sh\ncase "$1" in --list-sdks) echo "10.0.401 [sdk]";; build) echo $(( $(cat "$FAKE_CLOCK") + 1000 )) > "$FAKE_CLOCK"; exit 1;; esac\n' > bin/dotnet
        printf '#!/bin/sh\nexit 1\n' > bin/nvidia-smi
        printf '#!/bin/sh\nprintf "%%s\\n" "$(echo "$*" | tr "\\n" " ")" >> "$TIMEOUT_LOG"\n[ "$1" = -k ] && shift 2\nshift\nexec "$@"\n' > bin/timeout
        printf '#!/bin/sh\nexit 0\n' > stub/dotnet/dotnet
        chmod +x bin/* stub/dotnet/dotnet
        tar cJf repo/.device/dotnet.txz -C stub/dotnet .
        tar cJf repo/.device/payload.txz -C stub/bundle .
        echo 1000000 > clock
        """;

    [LinuxFact]
    public void A_failed_build_leaves_the_bundle_every_steps_own_limit_and_each_step_a_kill_after_its_limit()
    {
        DirectoryInfo root = Directory.CreateTempSubdirectory("copal-device-check-");
        try
        {
            Run(root.FullName, Setup);
            File.Copy(TestData.RepoPath("tools", "device-check.sh"), Path.Combine(root.FullName, "repo", "tools", "device-check.sh"));
            string output = Run(root.FullName, "PATH=\"$PWD/bin:$PATH\" FAKE_CLOCK=\"$PWD/clock\" TIMEOUT_LOG=\"$PWD/limits\" TMPDIR=\"$PWD/tmp\" "
                + "COPAL_CHECK_PRESETS=test-tiny bash repo/tools/device-check.sh");
            Assert.Contains("the build failed", output, StringComparison.Ordinal);
            string[] limits = File.ReadAllLines(Path.Combine(root.FullName, "limits"));

            // The 8 minutes are counted from after the build, whether it built or failed: each GPU test step gets its
            // own limit, not the 1 s left of the 470 after a 1,000 s build.
            Assert.Equal(["200", "150", "100", "120"], limits.Where(l => l.Contains("run_tests", StringComparison.Ordinal)).Select(Limit));

            // timeout's TERM only asks copal to cancel: a step stuck in a driver call outlived its limit. Each is
            // killed 5 s after, nvidia-smi's two queries too.
            Assert.Equal(2, limits.Count(l => l.Contains("nvidia-smi", StringComparison.Ordinal)));
            Assert.All(limits, l => Assert.StartsWith("-k 5 ", l, StringComparison.Ordinal));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    // The limit a noted timeout call set: its first argument after -k's.
    private static string Limit(string call)
    {
        string[] words = call.Split(' ');
        return words[0] == "-k" ? words[2] : words[0];
    }

    private static string Run(string directory, string script)
    {
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        using Process process = Process.Start(psi)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return stdout + stderr.Result;
    }
}
