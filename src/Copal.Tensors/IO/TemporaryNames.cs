using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Copal.Tensors.IO;

/// <summary>
/// Names of the hidden temporary files and folders an output is built in: <c>.NAME.KIND-PID-START-NS-MACHINE-BOOT-N</c>
/// beside the output, where PID, START (the process's start time), NS (its pid namespace on Linux, 0 elsewhere),
/// MACHINE (a hash of the host name and machine id) and BOOT (the machine's boot) say which run owns it. A run that was
/// killed (SIGKILL, power loss) cannot clean up; the next run finds its leftovers by the name, sees that no process
/// with that id and start time exists, puts back a previous output it had moved aside (<see cref="RestoreStale"/>) and
/// removes the rest (<see cref="RemoveStale"/>). The start time makes a reused pid harmless; a name from another pid
/// namespace (another container sharing the folder) or another machine (sharing it over the network) is never judged,
/// since its pids mean other processes; one of this machine's earlier boot is a leftover, whatever its pid.
/// </summary>
internal static partial class TemporaryNames
{
    private static long s_sequence;
    private static readonly Lazy<string> s_namespace = new(PidNamespace);
    private static readonly Lazy<string> s_machine = new(MachineTag);
    private static readonly Lazy<string> s_boot = new(BootTag);
    private static readonly Lazy<string> s_owner = new(() =>
        $"{Environment.ProcessId}-{StartStamp(Environment.ProcessId) ?? "0"}-{s_namespace.Value}-{s_machine.Value}-{s_boot.Value}");

    /// <summary>This process's part of the names: <c>PID-START-NS-MACHINE-BOOT</c>.</summary>
    public static string Owner => s_owner.Value;

    /// <summary>
    /// A fresh hidden sibling of <paramref name="path"/> owned by this process, e.g.
    /// <c>dir/.out.tmp-4242-1234567-4026531836-5d41402a-b6373500-0</c>;
    /// <paramref name="kind"/> says what it holds: "tmp" (being written), "old" (being replaced) or "commit" (the
    /// renames that follow another output's, <see cref="CommitRecord"/>).
    /// </summary>
    public static string Sibling(string path, string kind)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path).TrimEnd(Path.DirectorySeparatorChar);
        string parent = Path.GetDirectoryName(full) ?? full;
        long n = Interlocked.Increment(ref s_sequence) - 1;
        string name = Path.Join(parent, Hidden(Path.GetFileName(full), $".{kind}-{s_owner.Value}-{n.ToString(CultureInfo.InvariantCulture)}"));
        if (kind == "tmp")
        {
            s_named.Enqueue(name);
        }
        return name;
    }

    /// <summary>The most bytes of a file name: NAME_MAX on Linux's file systems (Windows and macOS allow 255 characters).</summary>
    private const int MaxNameBytes = 255;

    /// <summary>What marks a temporary name whose copy of the output's name was cut to fit (<see cref="Hidden"/>).</summary>
    internal const char CutMark = '~';

    /// <summary>
    /// <c>.NAME</c> + <paramref name="suffix"/>, the hidden name beside an output named <paramref name="name"/>. A legal
    /// name of up to 255 bytes leaves no room for the suffix: its copy is then cut, at a character, and marked with
    /// <see cref="CutMark"/>, so the output can still be written. (A cut "old" name is not put back by
    /// <see cref="RestoreStale"/>, which cannot know the whole name, nor removed while nothing holds its cut name.)
    /// </summary>
    private static string Hidden(string name, string suffix)
    {
        string whole = $".{name}{suffix}";
        if (System.Text.Encoding.UTF8.GetByteCount(whole) <= MaxNameBytes)
        {
            return whole;
        }
        int budget = MaxNameBytes - System.Text.Encoding.UTF8.GetByteCount(suffix) - 2; // the leading '.' and the mark
        int chars = name.Length;
        while (chars > 0 && (System.Text.Encoding.UTF8.GetByteCount(name.AsSpan(0, chars)) > budget || char.IsHighSurrogate(name[chars - 1])))
        {
            chars--;
        }
        return $".{name[..chars]}{CutMark}{suffix}";
    }

    /// <summary>
    /// Makes a fresh working folder inside <paramref name="parent"/> (the system temp folder, or one the user named)
    /// named like <see cref="Sibling"/>'s, <c>.LABEL.tmp-PID-START-NS-MACHINE-BOOT-N</c>, readable by this user only: a second signal
    /// removes it with the outputs' temporaries (<see cref="RemoveOwn"/>), and a run after a kill finds it stale.
    /// </summary>
    public static string CreateFolderIn(string parent, string label)
    {
        ArgumentException.ThrowIfNullOrEmpty(parent);
        ArgumentException.ThrowIfNullOrEmpty(label);
        string full = Path.GetFullPath(parent);
        // N is random here, not the counter: in a shared folder (the system temp) the rest of the name is public (pid
        // and start time are in /proc), and another user who made the folder first, or a link by its name, would
        // receive our intermediate models. A folder or link already there is never taken.
        for (int attempt = 0; ; attempt++)
        {
            long n = System.Security.Cryptography.RandomNumberGenerator.GetInt32(int.MaxValue) * (long)int.MaxValue
                + System.Security.Cryptography.RandomNumberGenerator.GetInt32(int.MaxValue);
            string path = Path.Join(full, $".{label}.tmp-{s_owner.Value}-{n.ToString(CultureInfo.InvariantCulture)}");
            if (Path.Exists(path) || new FileInfo(path).LinkTarget is not null)
            {
                if (attempt < 8)
                {
                    continue;
                }
                throw new IOException($"'{parent}': cannot make a fresh working folder there ('{Path.GetFileName(path)}' and 8 others exist)");
            }
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(path);
            }
            else
            {
                Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            // Made between the check and the creation by someone else: refuse it rather than write into it.
            var made = new DirectoryInfo(path);
            const UnixFileMode others = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
                | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            if (made.LinkTarget is not null || (!OperatingSystem.IsWindows() && (made.UnixFileMode & others) != 0))
            {
                throw new IOException($"'{path}' was made by someone else while this run made it; not used");
            }
            // Only once it is known to be ours: a second signal deletes what is named here.
            s_named.Enqueue(path);
            return path;
        }
    }

    // Every "tmp" name this process handed out; most are renamed into place or deleted long before RemoveOwn runs.
    private static readonly System.Collections.Concurrent.ConcurrentQueue<string> s_named = new();

    /// <summary>
    /// Deletes every temporary file or folder ("tmp") this process named that still exists: a run stopped at once (a
    /// second Ctrl-C or SIGTERM) calls it just before the process ends, so nothing half-written stays even until the
    /// next run. An "old" folder (the previous output while it is replaced) is left alone. Best effort; never throws.
    /// </summary>
    public static void RemoveOwn()
    {
        // First the renames a committed output still owes (or the staged files of one that was not committed).
        CommitRecord.SettleOwn();
        foreach (string path in s_named)
        {
            // A writer still running may add a file while the folder is emptied: try again.
            for (int attempt = 0; attempt < 3 && !DeleteQuietly(path); attempt++)
            {
            }
        }
    }

    /// <summary>
    /// Deletes the file or folder (with its contents) at <paramref name="path"/>, if there is one; true when nothing
    /// is left there. Never throws: it runs while an error unwinds, and a leftover of ours is swept by the next run
    /// (<see cref="RemoveStale"/>).
    /// </summary>
    public static bool DeleteQuietly(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
            else if (File.Exists(path))
            {
                File.Delete(path);
            }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Deletes the temporary files and folders in <paramref name="directory"/> whose owning process is gone, and
    /// returns their names. Ours and those of live runs stay. Entries that cannot be deleted are left alone, and so is
    /// a previous output moved aside ("old") while nothing holds its name: <see cref="RestoreStale"/> puts it back.
    /// </summary>
    public static IReadOnlyList<string> RemoveStale(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var removed = new List<string>();
        HashSet<string> unsettled = Unsettled(directory);
        foreach ((string entry, Match m) in StaleEntries(directory, ".*"))
        {
            if (m.Groups["kind"].Value == "old" && !Path.Exists(Path.Join(directory, m.Groups["name"].Value)))
            {
                // A previous output that RestoreStale could not put back: still the only copy, never deleted.
                continue;
            }
            if (unsettled.Contains(Path.GetFileName(entry)))
            {
                // A commit FinishStale could not settle now, and the files it names: for a later run to settle.
                continue;
            }
            try
            {
                if (Directory.Exists(entry) && new DirectoryInfo(entry).LinkTarget is null)
                {
                    Directory.Delete(entry, recursive: true);
                }
                else
                {
                    File.Delete(entry);
                }
                removed.Add(Path.GetFileName(entry));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Someone else's or in use: not ours to force.
            }
        }
        return removed;
    }

    /// <summary>
    /// Whether <paramref name="directory"/> holds a temporary name whose owning process is gone: what <see cref="RestoreStale"/>,
    /// <see cref="FinishStale"/> and <see cref="RemoveStale"/> would settle. False where the folder is missing or cannot be listed.
    /// </summary>
    public static bool HasStale(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return StaleEntries(directory, ".*").Count > 0;
    }

    /// <summary>
    /// The entries of <paramref name="directory"/> matching <paramref name="search"/> that are temporary names whose
    /// owning process is gone (of this pid namespace and boot, or of this machine's earlier boot), with the parts of their names; none where the folder is missing or
    /// cannot be listed. What <see cref="RemoveStale"/> and <see cref="RestoreStale"/> both start from.
    /// </summary>
    private static List<(string Entry, Match Parts)> StaleEntries(string directory, string search)
    {
        var stale = new List<(string, Match)>();
        if (!Directory.Exists(directory))
        {
            return stale;
        }
        List<string> entries;
        try
        {
            entries = [.. Directory.EnumerateFileSystemEntries(directory, search)];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return stale;
        }
        foreach (string entry in entries)
        {
            Match m = Pattern().Match(Path.GetFileName(entry));
            if (m.Success && OriginOf(m) switch
                {
                    Origin.EarlierBoot => true,
                    Origin.Here => IsStale(int.Parse(m.Groups["pid"].ValueSpan, CultureInfo.InvariantCulture), m.Groups["start"].Value),
                    _ => false,
                })
            {
                stale.Add((entry, m));
            }
        }
        return stale;
    }

    /// <summary>Whether a name of this shape belongs to no running process (pid gone, or reused by a later process).</summary>
    internal static bool IsStale(int pid, string start)
    {
        if (pid <= 0)
        {
            return false;
        }
        string? now = StartStamp(pid);
        return now is null || (now != "0" && start != "0" && now != start);
    }

    /// <summary>
    /// When process <paramref name="pid"/> started, as a stable string (clock ticks since boot on Linux), or null
    /// when there is no such process.
    /// </summary>
    internal static string? StartStamp(int pid)
    {
        if (OperatingSystem.IsLinux())
        {
            string stat;
            try
            {
                stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            }
            catch (UnauthorizedAccessException)
            {
                return "0"; // there, but hidden from us (a /proc mounted hidepid=1): alive, as elsewhere
            }
            catch (IOException)
            {
                return null;
            }
            // Fields after the parenthesized command name (which may hold spaces); starttime is field 22.
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 19 ? fields[19] : "0";
        }
        try
        {
            using Process p = Process.GetProcessById(pid);
            return p.StartTime.ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture);
        }
        catch (ArgumentException)
        {
            return null; // no such process
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or NotSupportedException)
        {
            return "0"; // exists but unreadable: treat as alive
        }
    }

    // Linux names pid namespaces by an inode number ("pid:[4026531836]"); elsewhere there is one.
    private static string PidNamespace()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "0";
        }
        try
        {
            string? link = new FileInfo("/proc/self/ns/pid").LinkTarget;
            string digits = new(link?.Where(char.IsAsciiDigit).ToArray() ?? []);
            return digits.Length is > 0 and <= 20 ? digits : "0";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "0";
        }
    }

    [GeneratedRegex(@"^\.(?<name>.+)\.(?<kind>tmp|old|commit)-(?<owner>(?<pid>[0-9]{1,9})-(?<start>[0-9]{1,20})-(?<ns>[0-9]{1,20})(?:-(?<machine>[0-9a-f]{8})-(?<boot>[0-9a-f]{8}))?)-[0-9]{1,19}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
