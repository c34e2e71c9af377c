namespace Copal.Tensors.IO;

/// <summary>
/// Whether a folder is where a file system is mounted. Such a folder cannot be renamed or replaced (the system
/// answers "device or resource busy"), so an output written beside it and renamed into place cannot land there.
/// Linux reads <c>/proc/self/mountinfo</c>; elsewhere nothing is known and every folder is taken as an ordinary one.
/// </summary>
internal static class MountPoints
{
    private const string MountInfo = "/proc/self/mountinfo";

    /// <summary>True when <paramref name="fullPath"/> (an absolute path, links resolved) is a mount point.</summary>
    public static bool IsMountPoint(string fullPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(fullPath);
        if (!File.Exists(MountInfo))
        {
            return false;
        }
        string target = Path.TrimEndingDirectorySeparator(fullPath);
        try
        {
            // Each line: id, parent id, major:minor, root, mount point, ... with spaces, tabs, newlines and
            // backslashes in paths written as octal escapes (\040 and so on).
            return File.ReadLines(MountInfo)
                .Select(line => line.Split(' '))
                .Any(fields => fields.Length > 4 && string.Equals(Unescape(fields[4]), target, StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string Unescape(string field)
    {
        if (!field.Contains('\\', StringComparison.Ordinal))
        {
            return field;
        }
        var text = new System.Text.StringBuilder(field.Length);
        for (int i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && i + 3 < field.Length && field.AsSpan(i + 1, 3).IndexOfAnyExcept("01234567") < 0)
            {
                text.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                text.Append(field[i]);
            }
        }
        return text.ToString();
    }
}
