using System.Security.Cryptography;
using System.Text;

namespace Copal.Tensors.IO;

// Which machine and which boot of it a temporary name's pids belong to.
internal static partial class TemporaryNames
{
    /// <summary>
    /// What a name's owner part says of where it was made, against where this process runs: only a name of this machine
    /// can be judged, for pids mean nothing elsewhere (two machines sharing a folder over NFS both run their copal in
    /// the same initial pid namespace, whose number is one constant on every Linux, and either's pid may be missing
    /// from, or another process on, the other).
    /// </summary>
    private enum Origin
    {
        /// <summary>Another machine, or another pid namespace of this one: its owner cannot be seen from here.</summary>
        Elsewhere,

        /// <summary>This machine before its last start: its owner ended with that boot.</summary>
        EarlierBoot,

        /// <summary>This machine's pid namespace now: the owner is alive while its pid and start time are.</summary>
        Here,
    }

    private static Origin OriginOf(System.Text.RegularExpressions.Match parts)
    {
        if (!parts.Groups["machine"].Success)
        {
            // A name of a copal before machines were named: judged as it judged them, by the pid namespace.
            return parts.Groups["ns"].Value == s_namespace.Value ? Origin.Here : Origin.Elsewhere;
        }
        if (parts.Groups["machine"].Value != s_machine.Value)
        {
            return Origin.Elsewhere;
        }
        // A boot of 0s was not read (BootTag) and says nothing of when its name was made: only two boots both read and
        // different say an earlier one. Otherwise a live run whose boot id a sandbox hid from it (or from this run) was
        // taken for a leftover, whatever its pid, and its temporaries deleted under it.
        if (parts.Groups["boot"].Value != s_boot.Value && parts.Groups["boot"].Value != UnknownBoot && s_boot.Value != UnknownBoot)
        {
            // Without a machine id the tag is the host name's alone, which two machines may share (containers given
            // one name, an image with no /etc/machine-id): another boot may then be another machine's, running now.
            return s_machineIdRead ? Origin.EarlierBoot : Origin.Elsewhere;
        }
        return parts.Groups["ns"].Value == s_namespace.Value ? Origin.Here : Origin.Elsewhere;
    }

    /// <summary>
    /// 8 hex digits of a hash of the host name and, where there is one, the machine id (systemd's /etc/machine-id, made
    /// once when the system is installed): the same for every run on this machine, across its restarts, and different
    /// between two machines unless both their host names and machine ids are (a cloned system not given its own).
    /// </summary>
    private static string MachineTag()
    {
        string id = "";
        s_machineIdRead = false;
        foreach (string file in (string[])["/etc/machine-id", "/var/lib/dbus/machine-id"])
        {
            try
            {
                id = File.ReadAllText(file).Trim();
                if (id.Length > 0)
                {
                    break;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        s_machineIdRead = id.Length > 0;
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{Environment.MachineName}\n{id}"));
        return Convert.ToHexStringLower(hash, 0, 4);
    }

    /// <summary>
    /// The first 8 hex digits of Linux's boot id (random at every start, the same in every container of the machine):
    /// a name of another boot was made before this machine last started. Elsewhere, and where it cannot be read, 0s,
    /// which say nothing of a boot (a name with them, or any name while this run has them, is judged by its pid and start
    /// time: elsewhere a date, which a pid reused after a restart does not repeat).
    /// </summary>
    private static string BootTag()
    {
        if (OperatingSystem.IsLinux())
        {
            try
            {
                string digits = new([.. File.ReadAllText("/proc/sys/kernel/random/boot_id").Where(char.IsAsciiHexDigit).Select(char.ToLowerInvariant)]);
                if (digits.Length >= 8)
                {
                    return digits[..8];
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        return UnknownBoot;
    }

    // Whether MachineTag read a machine id (set with s_machine's value, read after it).
    private static bool s_machineIdRead;

    /// <summary>The boot part of a name whose run could not read its boot (<see cref="BootTag"/>).</summary>
    private const string UnknownBoot = "00000000";
}
