namespace Copal.Tensors.IO;

/// <summary>
/// The physical location of a path: symbolic links resolved in every component (parent folders included), "." and
/// ".." applied after the link before them, as the kernel does. Two spellings of one folder resolve to the same
/// string, which is what comparing an output with the inputs needs.
/// </summary>
internal static class RealPath
{
    // As Linux's MAXSYMLINKS: a chain longer than this is a loop.
    private const int MaxLinks = 40;

    private static readonly char[] s_separators = [Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar];

    /// <summary>Case-insensitive where the usual file systems are (Windows, macOS).</summary>
    public static StringComparison Comparison { get; } =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>
    /// Resolves <paramref name="path"/> (relative to the current folder). ".." in the path itself is applied first,
    /// as .NET does for every file operation (<see cref="Path.GetFullPath(string)"/>); ".." inside a link's target
    /// applies to where the link lies, as the kernel does. Components that do not exist yet are kept as spelled, so
    /// the result for an output about to be created is where it will be created.
    /// </summary>
    /// <exception cref="IOException">The links form a loop.</exception>
    public static string Resolve(string path) => Resolve(path, name: null);

    /// <summary>
    /// As <see cref="Resolve(string)"/>, with a loop of links told as the option that gave the path (<paramref name="name"/>,
    /// e.g. <c>-o</c>): a loop is found before the file is opened, where nothing else names the option.
    /// </summary>
    /// <exception cref="IOException">The links form a loop.</exception>
    public static string Resolve(string path, string? name)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string absolute = Path.GetFullPath(path);
        string current = Path.GetPathRoot(absolute)!;
        var pending = new List<string>(Split(absolute[current.Length..]));
        pending.Reverse(); // a stack: the next component is last
        int links = 0;
        bool missing = false;
        while (pending.Count > 0)
        {
            string part = pending[^1];
            pending.RemoveAt(pending.Count - 1);
            if (part is "." or "")
            {
                continue;
            }
            if (part == "..")
            {
                // Only from a link's target. `current` is already physical, so its lexical parent is its real parent.
                current = Path.GetDirectoryName(current) ?? current;
                missing = false;
                continue;
            }
            string next = Path.Join(current, part);
            string? target = missing ? null : LinkTarget(next, out missing);
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++links > MaxLinks)
            {
                throw new IOException($"{(name is null ? "" : name + " ")}'{path}' has too many levels of symbolic links (a loop at '{next}')");
            }
            if (Path.IsPathRooted(target))
            {
                current = Path.GetPathRoot(target)!;
                target = target[current.Length..];
            }
            string[] parts = Split(target);
            for (int i = parts.Length - 1; i >= 0; i--)
            {
                pending.Add(parts[i]);
            }
        }
        return current;
    }

    /// <summary>
    /// <paramref name="path"/> spelled so that .NET reaches what the kernel (a shell, any other program) reaches
    /// through it. They differ only where ".." follows a symbolic link: .NET applies ".." to the text first
    /// (<see cref="Path.GetFullPath(string)"/>, so "link/../out" is "out"), the kernel to where the link leads. The
    /// path comes back as given unless they differ; then it is an absolute path through the physical folder that such a
    /// ".." reaches. The CLI passes every path a user gives through this before anything reads or writes it. An empty
    /// path, or one whose links form a loop, comes back as given: the option's check or the file operation says why.
    /// </summary>
    public static string AsTheKernelReadsIt(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            return Respelled(path);
        }
        catch (IOException)
        {
            return path;
        }
    }

    private static string Respelled(string path)
    {
        string root = Path.GetPathRoot(path) ?? "";
        string[] parts = Split(path[root.Length..]);
        if (!parts.Contains(".."))
        {
            return path;
        }
        string current = root;
        bool respelled = false;
        foreach (string part in parts)
        {
            if (part != "..")
            {
                current = Path.Join(current, part);
                continue;
            }
            string here = current.Length == 0 ? "." : current;
            string physical = Resolve(here);
            string kernelParent = Path.GetDirectoryName(physical) ?? physical;
            string textParent = Resolve(Path.Join(here, ".."));
            if (string.Equals(kernelParent, textParent, Comparison))
            {
                current = Path.Join(current, "..");
            }
            else
            {
                current = kernelParent;
                respelled = true;
            }
        }
        return respelled ? Path.GetFullPath(current) : path;
    }

    /// <summary>Whether <paramref name="inner"/> is <paramref name="outer"/> or lies inside it; both already resolved.</summary>
    public static bool IsSameOrInside(string inner, string outer)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(outer);
        string o = outer.TrimEnd(s_separators);
        if (o.Length == 0)
        {
            return true; // the root contains everything
        }
        return string.Equals(inner, o, Comparison)
            || inner.StartsWith(o + Path.DirectorySeparatorChar, Comparison);
    }

    private static string[] Split(string path) => path.Split(s_separators, StringSplitOptions.RemoveEmptyEntries);

    // The link's target, or null when `path` is not a link; `missing` becomes true when it does not exist (nothing below it can).
    private static string? LinkTarget(string path, out bool missing)
    {
        var info = new FileInfo(path);
        missing = !info.Exists && !Directory.Exists(path) && info.LinkTarget is null;
        return missing ? null : info.LinkTarget;
    }
}
