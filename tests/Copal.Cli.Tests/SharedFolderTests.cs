using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// Two machines that write into one folder they share (NFS, a volume two hosts mount). A temporary's name said which
/// process owns it by pid, start time and pid namespace only; every Linux runs its processes in an initial pid
/// namespace of the same number, so a run on one machine took the other's live temporaries for a killed run's (its pid
/// missing here, or another process): it deleted the output being written, put back the previous output the other was
/// replacing, and settled or dropped its --state copy before that run renamed its model. The names now say which
/// machine and which boot of it made them; what another machine made is never judged. What such a run leaves is made
/// here by hand with the name the other machine gives it: this machine's own, but for its pid and start time, a process
/// of the other machine that has none here, and its machine and boot.
/// </summary>
public sealed class SharedFolderTests : IDisposable
{
    private readonly TempDir _temp = new("copal-shared-");

    private static int DeadPid()
    {
        using Process done = Process.Start("true");
        done.WaitForExit();
        return done.Id;
    }

    /// <summary>
    /// This machine's owner part of a name (<see cref="TemporaryNames.Owner"/>, PID-START-NS-…) with a pid that has no
    /// process here, and each part after the pid namespace (the machine, the boot) changed when
    /// <paramref name="otherMachine"/>, else only the boot (<paramref name="otherBoot"/>) or none; <paramref name="ns"/>
    /// replaces the pid namespace.
    /// </summary>
    private static string Owner(bool otherMachine, bool otherBoot = false, string? ns = null)
    {
        string[] parts = TemporaryNames.Owner.Split('-');
        parts[0] = DeadPid().ToString(CultureInfo.InvariantCulture);
        parts[1] = "12345";
        parts[2] = ns ?? parts[2];
        for (int i = 3; i < parts.Length; i++)
        {
            if (otherMachine || (otherBoot && i == 4))
            {
                parts[i] = new string([.. parts[i].Select(c => c == 'f' ? '0' : 'f')]);
            }
        }
        return string.Join('-', parts);
    }

    private CopalProcess.Result Synth(string name) =>
        CopalProcess.Run("synth", "--config", Path.Combine(TestData.Stories260K, "config.json"), "-o", _temp.File(name), "--dtype", "f32");

    [Fact]
    public void A_run_on_another_machine_keeps_its_temporaries_its_aside_output_and_its_commit_record()
    {
        string owner = Owner(otherMachine: true);
        // Mid-write: its output folder and a report beside it.
        string writing = Directory.CreateDirectory(_temp.File($".out.tmp-{owner}-0")).FullName;
        File.WriteAllText(Path.Combine(writing, "model.safetensors"), "being written");
        string report = _temp.File($".report.json.tmp-{owner}-1");
        File.WriteAllText(report, "{");
        // Mid-swap where folders cannot be exchanged in one step: its previous output aside, the new one not yet in place.
        string aside = Directory.CreateDirectory(_temp.File($".prev.old-{owner}-2")).FullName;
        File.WriteAllText(Path.Combine(aside, "config.json"), "previous");
        // A --state copy staged, its record written, its model not yet renamed into place.
        string staged = _temp.File($".copal-state.json.tmp-{owner}-3");
        File.WriteAllText(staged, "state");
        string record = _temp.File($".copal-state.json.commit-{owner}-4");
        File.WriteAllText(record, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["output"] = Path.Combine(_temp.Path, "prev", "copal-state.json"),
            ["renames"] = new[] { new[] { Path.GetFileName(staged), "copal-state.json" } },
        }));
        string[] before = [.. Directory.GetFileSystemEntries(_temp.Path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];

        CopalProcess.Result r = Synth("mine");

        Assert.True(r.ExitCode == 0, r.Stderr);
        string mine = _temp.File("mine");
        Assert.Equal(before, Directory.GetFileSystemEntries(_temp.Path, "*", SearchOption.AllDirectories)
            .Where(p => p != mine && !p.StartsWith(mine + Path.DirectorySeparatorChar, StringComparison.Ordinal)).Order(StringComparer.Ordinal));
        Assert.Equal("being written", File.ReadAllText(Path.Combine(writing, "model.safetensors")));
        Assert.DoesNotContain("interrupted run", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// What a run left before this machine last started (a power cut) is a leftover whatever its pid says, even from a
    /// pid namespace that is gone with it (a container's): the next run removes it, and puts back an output it had moved aside.
    /// </summary>
    [Fact]
    public void Leftovers_of_this_machines_earlier_boot_are_removed_even_from_another_pid_namespace()
    {
        string owner = Owner(otherMachine: false, otherBoot: true, ns: "4026532999");
        string writing = Directory.CreateDirectory(_temp.File($".out.tmp-{owner}-0")).FullName;
        File.WriteAllText(Path.Combine(writing, "model.safetensors"), "cut short");
        string aside = Directory.CreateDirectory(_temp.File($".prev.old-{owner}-1")).FullName;
        File.WriteAllText(Path.Combine(aside, "config.json"), "previous");

        CopalProcess.Result r = Synth("mine");

        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.False(Directory.Exists(writing));
        Assert.Equal("previous", File.ReadAllText(Path.Combine(_temp.Path, "prev", "config.json")));
        Assert.Contains($"copal: put back 1 output that an interrupted run had moved aside in '{_temp.Path}': prev", r.Stderr, StringComparison.Ordinal);
        Assert.Contains("removed 1 stale temporary entry", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>This machine's names in another pid namespace of the same boot (a container running now) stay: its pids are not ours to see.</summary>
    [Fact]
    public void A_run_in_another_pid_namespace_of_this_boot_keeps_its_temporaries()
    {
        string owner = Owner(otherMachine: false, ns: "4026532999");
        string writing = Directory.CreateDirectory(_temp.File($".out.tmp-{owner}-0")).FullName;

        CopalProcess.Result r = Synth("mine");

        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.True(Directory.Exists(writing));
        Assert.DoesNotContain("stale", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// A boot that a run could not read (Linux's boot id hidden from it by a sandbox or a confined /proc; every other
    /// system) is written as 0s: it says nothing of an earlier boot. A live run of this machine whose name has one while
    /// this run reads a real boot id (or the other way round) was taken for an earlier boot's leftover, whatever its pid,
    /// and its output being written was deleted. Such a name is judged by its pid and start time, as before machines
    /// were named; here the owner is this test's own process, alive while copal runs.
    /// </summary>
    [Fact]
    public void A_live_run_whose_boot_could_not_be_read_keeps_its_temporaries()
    {
        string[] parts = TemporaryNames.Owner.Split('-');
        parts[4] = "00000000";
        string owner = string.Join('-', parts);
        string writing = Directory.CreateDirectory(_temp.File($".out.tmp-{owner}-0")).FullName;
        File.WriteAllText(Path.Combine(writing, "model.safetensors"), "being written");

        CopalProcess.Result r = Synth("mine");

        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("being written", File.ReadAllText(Path.Combine(writing, "model.safetensors")));
        Assert.DoesNotContain("stale", r.Stderr, StringComparison.Ordinal);
    }

    /// <summary>
    /// Where a run reads no machine id (an image without /etc/machine-id), its machine tag is its host name's alone, which
    /// another machine sharing the folder may have too (containers given one name): a name with that tag and another boot
    /// may be that machine's live run, and stays. It was taken for this machine's earlier boot and deleted, whatever its
    /// pid. copal runs here in a mount namespace where both machine-id files are empty.
    /// </summary>
    [BindMountFact]
    public void Without_a_machine_id_another_boot_of_the_same_host_name_keeps_its_temporaries()
    {
        string empty = _temp.File("empty-machine-id");
        File.WriteAllText(empty, "");
        string[] parts = Owner(otherMachine: false, otherBoot: true).Split('-');
        parts[3] = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Environment.MachineName + "\n")), 0, 4);
        string owner = string.Join('-', parts);
        string writing = Directory.CreateDirectory(_temp.File($".out.tmp-{owner}-0")).FullName;
        File.WriteAllText(Path.Combine(writing, "model.safetensors"), "being written");
        string noMachineId = "exec unshare -rm bash -c 'for f in /etc/machine-id /var/lib/dbus/machine-id; do if [ -e \"$f\" ]; then " +
            $"mount --bind \"$1\" \"$f\" || exit 97; fi; done; shift; exec dotnet \"$@\"' bash \"{empty}\" \"$@\"";

        CopalProcess.Result r = CopalProcess.RunInShell(noMachineId,
            "synth", "--config", Path.Combine(TestData.Stories260K, "config.json"), "-o", _temp.File("mine"), "--dtype", "f32");

        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Equal("being written", File.ReadAllText(Path.Combine(writing, "model.safetensors")));
        Assert.DoesNotContain("stale", r.Stderr, StringComparison.Ordinal);
    }

    public void Dispose() => _temp.Dispose();
}
