using System.Diagnostics;
using System.Globalization;
using Copal.Tensors.IO;
using Copal.Testing;

namespace Copal.Tensors.Tests.IO;

/// <summary>Temporary names say who owns them, so a later run removes a killed run's leftovers and nothing else.</summary>
public sealed class TemporaryNamesTests : IDisposable
{
    private readonly TempDir _dir = new("copal-io-");

    // A pid no process has now: one that just ended.
    private static int DeadPid()
    {
        using Process done = Process.Start("true");
        done.WaitForExit();
        return done.Id;
    }

    [Fact]
    public void Only_leftovers_of_gone_processes_in_our_pid_namespace_are_removed()
    {
        int dead = DeadPid();
        string ns = TemporaryNames.Owner.Split('-')[2];
        string pid = dead.ToString(CultureInfo.InvariantCulture);
        string goneFolder = Directory.CreateDirectory(_dir.File($".out.tmp-{pid}-7-{ns}-0")).FullName;
        File.WriteAllText(Path.Combine(goneFolder, "partial"), "x");
        File.WriteAllText(_dir.File($".model.safetensors.tmp-{pid}-7-{ns}-1"), "x");
        string otherNamespace = Directory.CreateDirectory(_dir.File($".out.tmp-{pid}-7-{ns}9-2")).FullName;
        string mine = Directory.CreateDirectory(TemporaryNames.Sibling(_dir.File("out"), "tmp")).FullName;
        string visible = Directory.CreateDirectory(_dir.File($"out.tmp-{pid}-7-{ns}-3")).FullName;
        // A name of the shape with a line break after it is no temporary of ours: .NET's $ matched before that break.
        string lineBreak = _dir.File($".notes.tmp-{pid}-7-{ns}-4\n");
        File.WriteAllText(lineBreak, "kept");

        IReadOnlyList<string> removed = TemporaryNames.RemoveStale(_dir.Path);

        Assert.Equal([$".model.safetensors.tmp-{pid}-7-{ns}-1", $".out.tmp-{pid}-7-{ns}-0"], removed.Order(StringComparer.Ordinal));
        Assert.True(Directory.Exists(otherNamespace));
        Assert.True(Directory.Exists(mine));
        Assert.True(Directory.Exists(visible));
        Assert.True(File.Exists(lineBreak));
        Assert.StartsWith(_dir.File($".out.tmp-{TemporaryNames.Owner}-"), mine);
    }

    /// <summary>
    /// A previous output that a killed run had moved aside ("old") is still the only copy while nothing holds its name:
    /// the sweep leaves it, and RestoreStale puts it back. Once a newer output holds the name, it is a leftover.
    /// </summary>
    [Fact]
    public void A_previous_output_aside_is_put_back_and_removed_only_once_its_name_holds_another()
    {
        int dead = DeadPid();
        string owner = $"{dead.ToString(CultureInfo.InvariantCulture)}-7-{TemporaryNames.Owner.Split('-')[2]}";
        string free = Directory.CreateDirectory(_dir.File($".out.old-{owner}-0")).FullName;
        File.WriteAllText(Path.Combine(free, "config.json"), "previous");
        Directory.CreateDirectory(_dir.File($".kept.old-{owner}-1"));
        Directory.CreateDirectory(_dir.File("kept"));

        Assert.Equal([$".kept.old-{owner}-1"], TemporaryNames.RemoveStale(_dir.Path));
        Assert.True(Directory.Exists(free));
        Assert.Equal(["out"], TemporaryNames.RestoreStale(_dir.Path));
        Assert.Equal("previous", File.ReadAllText(_dir.File(Path.Combine("out", "config.json"))));
        Assert.Empty(TemporaryNames.RestoreStale(_dir.Path));
    }

    /// <summary>
    /// A killed run's commit record that the system refuses to read (here a folder stands in its place) names no staged
    /// file, so the sweep keeps every temporary of that run beside it, for a run that can read the record to settle:
    /// taken for stale, its staged state would be deleted with the model it belongs to maybe in place.
    /// </summary>
    [Fact]
    public void A_commit_record_that_cannot_be_read_keeps_every_temporary_of_its_run()
    {
        int dead = DeadPid();
        string ns = TemporaryNames.Owner.Split('-')[2];
        string owner = $"{dead.ToString(CultureInfo.InvariantCulture)}-7-{ns}";
        Directory.CreateDirectory(_dir.File($".copal-state.json.commit-{owner}-0"));
        File.WriteAllText(_dir.File($".copal-state.json.tmp-{owner}-1"), "staged");
        File.WriteAllText(_dir.File($".copal-state.safetensors.tmp-{owner}-2"), "staged");
        string another = $"{dead.ToString(CultureInfo.InvariantCulture)}-8-{ns}"; // the same pid, started at another time
        File.WriteAllText(_dir.File($".other.tmp-{another}-3"), "another run's leftover");

        Assert.Equal([$".other.tmp-{another}-3"], TemporaryNames.RemoveStale(_dir.Path));
        Assert.True(Directory.Exists(_dir.File($".copal-state.json.commit-{owner}-0")));
        Assert.True(File.Exists(_dir.File($".copal-state.json.tmp-{owner}-1")));
        Assert.True(File.Exists(_dir.File($".copal-state.safetensors.tmp-{owner}-2")));
    }

    /// <summary>
    /// A file name holds at most 255 bytes. An output whose own name is legal but long (254 bytes, two-byte characters
    /// where it is cut) still gets a temporary sibling that can be made: its copy of the name is cut, at a character,
    /// as long as fits, marked with '~', and a later run still knows it for a leftover. Where the cut falls depends on
    /// the suffix (the pid, the start time, the counter that earlier temporaries in this process advanced), so the
    /// names put a run of 'é' under every cut a suffix can make, and two of them, one byte apart, put one cut inside a
    /// character and the other between two, whatever the suffix's length.
    /// </summary>
    [Fact]
    public void A_long_output_name_gets_a_temporary_sibling_that_fits_beside_it()
    {
        string even = new string('a', 100) + new string('é', 77), odd = new string('a', 101) + new string('é', 76);
        Assert.Equal(254, System.Text.Encoding.UTF8.GetByteCount(even));
        Assert.Equal(253, System.Text.Encoding.UTF8.GetByteCount(odd));
        // The counter gains a digit now and then (another test may name temporaries meanwhile): then the two suffixes
        // differ by a byte, and the pair is named again.
        for (int attempt = 0; ; attempt++)
        {
            (string evenSibling, int evenSuffix) = NamedBeside(even);
            (string oddSibling, int oddSuffix) = NamedBeside(odd);
            if (evenSuffix != oddSuffix && attempt < 3)
            {
                continue;
            }
            Assert.Equal(evenSuffix, oddSuffix);
            // One byte apart, one of the two cuts falls inside an 'é', which is then left out whole: 254 bytes, not 255.
            int[] lengths = [.. new[] { evenSibling, oddSibling }.Select(s => System.Text.Encoding.UTF8.GetByteCount(Path.GetFileName(s))).Order()];
            Assert.Equal([254, 255], lengths);
            return;
        }
    }

    // Names a temporary sibling of a new folder named name, checks it, and gives it with its suffix's length in bytes.
    private (string Sibling, int SuffixBytes) NamedBeside(string name)
    {
        string output = Directory.CreateDirectory(_dir.File(name)).FullName; // legal here
        string sibling = TemporaryNames.Sibling(output, "tmp");
        string hidden = Path.GetFileName(sibling);
        int mark = hidden.IndexOf($"~.tmp-{TemporaryNames.Owner}-", StringComparison.Ordinal);
        Assert.True(mark > 0, hidden);
        string kept = hidden[1..mark];
        int bytes = System.Text.Encoding.UTF8.GetByteCount(hidden);
        Assert.True(bytes <= 255, hidden);
        Assert.StartsWith(kept, name, StringComparison.Ordinal); // cut at a character of the name
        Assert.StartsWith(new string('a', 100), kept, StringComparison.Ordinal);
        Assert.True(bytes + System.Text.Encoding.UTF8.GetByteCount(name[kept.Length..(kept.Length + 1)]) > 255, hidden); // as long as fits
        Directory.CreateDirectory(sibling);
        Assert.Empty(TemporaryNames.RemoveStale(_dir.Path)); // this process's, alive: known as ours, not removed
        Assert.Equal(Path.GetDirectoryName(output), Path.GetDirectoryName(sibling));
        return (sibling, System.Text.Encoding.UTF8.GetByteCount(hidden[(mark + 1)..]));
    }

    /// <summary>A name cut to fit takes all 255 bytes a name may have, not one more.</summary>
    [Fact]
    public void A_long_ascii_output_name_is_cut_to_exactly_the_longest_name()
    {
        string sibling = TemporaryNames.Sibling(_dir.File(new string('a', 254)), "tmp");
        Assert.Equal(255, System.Text.Encoding.UTF8.GetByteCount(Path.GetFileName(sibling)));
    }

    /// <summary>
    /// A working folder in a shared place: this process's name with a random part (the rest is public in /proc, so a
    /// counter could be guessed and the folder made first by someone else), mode 700, and ours to a later sweep.
    /// </summary>
    [Fact]
    public void A_working_folder_has_a_fresh_unguessable_name_only_its_owner_may_enter()
    {
        string a = TemporaryNames.CreateFolderIn(_dir.Path, "work"), b = TemporaryNames.CreateFolderIn(_dir.Path, "work");
        Assert.NotEqual(a, b);
        foreach (string made in new[] { a, b })
        {
            Assert.StartsWith($".work.tmp-{TemporaryNames.Owner}-", Path.GetFileName(made), StringComparison.Ordinal);
            Assert.True(Directory.Exists(made));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(made));
            }
        }
        Assert.Empty(TemporaryNames.RemoveStale(_dir.Path)); // this process's, alive
        Assert.True(Directory.Exists(a) && Directory.Exists(b));
    }

    public void Dispose() => _dir.Dispose();
}
