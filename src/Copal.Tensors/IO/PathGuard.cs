namespace Copal.Tensors.IO;

/// <summary>
/// Keeps outputs away from inputs. An output may not be an input, lie inside one (that writes into it), or contain
/// one (replacing it with --force would delete it), however either is spelled: links are resolved first, and folders
/// are compared on disk too (a bind mount, a case-insensitive file system).
/// </summary>
internal static class PathGuard
{
    /// <summary>
    /// Throws unless <paramref name="output"/> and <paramref name="input"/> are apart.
    /// <paramref name="outputName"/> is how the user gave the output ("--out"); <paramref name="inputName"/> says what
    /// the input is ("the input folder", "the --calib file").
    /// </summary>
    /// <exception cref="IOException">They are the same, or one contains the other.</exception>
    public static void RequireApart(string output, string outputName, string input, string inputName) =>
        Require(output, outputName, input, inputName, outputIsReplaced: true);

    /// <summary>
    /// As <see cref="RequireApart"/> for an output folder that is written into but never replaced or emptied (a
    /// state or scratch folder): it may contain the input, but not be it or lie inside it.
    /// </summary>
    public static void RequireOutside(string output, string outputName, string input, string inputName) =>
        Require(output, outputName, input, inputName, outputIsReplaced: false);

    /// <summary>
    /// As <see cref="RequireOutside"/> for a folder into which the files <paramref name="names"/> are written, each
    /// renamed over what is there: none of them may be where a file of <paramref name="input"/> really is (an input
    /// folder's links to files elsewhere count as its files), or the input would change.
    /// </summary>
    /// <exception cref="IOException">They are not apart, or a written file is an input's file.</exception>
    public static void RequireOutsideWriting(string output, string outputName, IReadOnlyList<string> names, string input, string inputName)
    {
        ArgumentNullException.ThrowIfNull(names);
        RequireOutside(output, outputName, input, inputName);
        string realInput = RealPath.Resolve(input);
        if (!Directory.Exists(realInput))
        {
            return;
        }
        var written = names.Select(n => RealPath.Resolve(Path.Combine(output, n))).ToList();
        RequireNotWritingLinked(output, outputName, written, input, inputName, realInput, input);
    }

    private static void RequireNotWritingLinked(string output, string outputName, IReadOnlyList<string> written, string input, string inputName, string folder, string shownFolder)
    {
        foreach ((string realEntry, string shown) in LinksIn(folder, shownFolder))
        {
            if (written.FirstOrDefault(w => RealPath.IsSameOrInside(w, realEntry)) is string file)
            {
                throw new IOException($"{outputName} '{output}' holds '{file}', which {inputName} '{input}' links to as '{shown}'; writing it would replace the input: choose another {outputName}");
            }
        }
    }

    private static void Require(string output, string outputName, string input, string inputName, bool outputIsReplaced)
    {
        ArgumentException.ThrowIfNullOrEmpty(output);
        ArgumentException.ThrowIfNullOrEmpty(input);
        string realOutput = RealPath.Resolve(output, outputName);
        string realInput = RealPath.Resolve(input, inputName);
        string where = Where(output, realOutput, input, realInput);
        if (string.Equals(realOutput, realInput, RealPath.Comparison))
        {
            throw new IOException($"{outputName} '{output}' is {inputName} '{input}'{where}; choose another {outputName}: inputs are never modified");
        }
        if (outputIsReplaced && RealPath.IsSameOrInside(realInput, realOutput))
        {
            throw new IOException($"{outputName} '{output}' contains {inputName} '{input}'{where}; writing it would replace the input: choose another {outputName}");
        }
        if (RealPath.IsSameOrInside(realOutput, realInput))
        {
            throw new IOException($"{outputName} '{output}' is inside {inputName} '{input}'{where}; inputs are never written into: choose a place outside it");
        }
        RequireApartOnDisk(output, outputName, realOutput, input, inputName, realInput, outputIsReplaced);
        if (Directory.Exists(realInput))
        {
            RequireApartFromLinks(output, outputName, realOutput, input, inputName, realInput, input, outputIsReplaced);
        }
    }

    /// <summary>
    /// Paths apart as spelled, links resolved, may still reach one folder where no link explains it: a bind mount shows
    /// a folder at a second place, and a case-insensitive file system takes <c>Llama</c> for <c>llama</c>. Compared on
    /// disk (<see cref="FileIdentity"/>): the output and every folder above it that exists against the input, and,
    /// for an output that is replaced, every folder above the input against the output.
    /// </summary>
    private static void RequireApartOnDisk(string output, string outputName, string realOutput, string input, string inputName, string realInput, bool outputIsReplaced)
    {
        if (FileIdentity.Of(realInput) is not FileIdentity inputOnDisk)
        {
            return;
        }
        for (string? folder = realOutput; folder is not null; folder = Path.GetDirectoryName(folder))
        {
            if (FileIdentity.Of(folder) == inputOnDisk)
            {
                string how = $" ('{folder}' is '{realInput}' on disk, reached by another path: a bind mount or a case-insensitive file system)";
                throw new IOException(folder == realOutput
                    ? $"{outputName} '{output}' is {inputName} '{input}'{how}; choose another {outputName}: inputs are never modified"
                    : $"{outputName} '{output}' is inside {inputName} '{input}'{how}; inputs are never written into: choose a place outside it");
            }
        }
        if (!outputIsReplaced || FileIdentity.Of(realOutput) is not FileIdentity outputOnDisk)
        {
            return;
        }
        for (string? folder = Path.GetDirectoryName(realInput); folder is not null; folder = Path.GetDirectoryName(folder))
        {
            if (FileIdentity.Of(folder) == outputOnDisk)
            {
                throw new IOException($"{outputName} '{output}' contains {inputName} '{input}' ('{realOutput}' is '{folder}' on disk, reached by another path: "
                    + $"a bind mount or a case-insensitive file system); writing it would replace the input: choose another {outputName}");
            }
        }
    }

    /// <summary>
    /// An input folder's files may be links to files elsewhere (a Hugging Face cache's snapshot links every file to a
    /// blob): the output must be apart from where they really are, or replacing it would destroy the input's data.
    /// shownFolder is the folder walked as the user would spell it, for the message.
    /// </summary>
    private static void RequireApartFromLinks(string output, string outputName, string realOutput, string input, string inputName, string folder, string shownFolder, bool outputIsReplaced)
    {
        foreach ((string realEntry, string shown) in LinksIn(folder, shownFolder))
        {
            if (outputIsReplaced && RealPath.IsSameOrInside(realEntry, realOutput))
            {
                throw new IOException($"{outputName} '{output}' holds '{realEntry}', which {inputName} '{input}' links to as '{shown}'; writing it would replace the input: choose another {outputName}");
            }
            if (RealPath.IsSameOrInside(realOutput, realEntry))
            {
                throw new IOException($"{outputName} '{output}' is inside '{realEntry}', which {inputName} '{input}' links to as '{shown}'; inputs are never written into: choose a place outside it");
            }
        }
    }

    /// <summary>
    /// The links in <paramref name="folder"/> and its subfolders, each as where it really leads and as the user would
    /// spell it (under <paramref name="shownFolder"/>). Links to folders are listed, not followed, so a loop cannot
    /// trap the walk.
    /// </summary>
    private static IEnumerable<(string Real, string Shown)> LinksIn(string folder, string shownFolder)
    {
        foreach (FileSystemInfo entry in new DirectoryInfo(folder).EnumerateFileSystemInfos())
        {
            if (entry.LinkTarget is not null)
            {
                yield return (RealPath.Resolve(entry.FullName), Path.Join(shownFolder, entry.Name));
            }
            else if (entry is DirectoryInfo sub)
            {
                foreach ((string Real, string Shown) link in LinksIn(sub.FullName, Path.Join(shownFolder, sub.Name)))
                {
                    yield return link;
                }
            }
        }
    }

    // Names the physical paths when links made the spelled ones look unrelated.
    private static string Where(string output, string realOutput, string input, string realInput)
    {
        // Path.TrimEndingDirectorySeparator keeps the root's own separator ("/" stays "/"), as RealPath.Resolve does.
        bool outputPlain = string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(output)), realOutput, RealPath.Comparison);
        bool inputPlain = string.Equals(Path.TrimEndingDirectorySeparator(Path.GetFullPath(input)), realInput, RealPath.Comparison);
        return (outputPlain, inputPlain) switch
        {
            (true, true) => "",
            (false, true) => $" (through links, the output is '{realOutput}')",
            (true, false) => $" (through links, the input is '{realInput}')",
            _ => $" (through links, the output is '{realOutput}' and the input '{realInput}')",
        };
    }
}
