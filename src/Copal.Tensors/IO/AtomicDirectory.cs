namespace Copal.Tensors.IO;

/// <summary>
/// Builds an output folder under a temporary sibling name and moves it into place only when complete, so an error
/// or Ctrl-C never leaves a half-written model behind. Dispose without <see cref="Commit"/> deletes the temporary folder.
/// </summary>
internal sealed class AtomicDirectory : IDisposable
{
    private bool _committed;

    private AtomicDirectory(string name, string givenPath, string finalPath, string tempPath, bool replace, bool overwrite, IReadOnlyList<string> createdParents,
        OutputFolderLock held, IReadOnlyList<FolderLock> reading, FileIdentity? judged)
    {
        _judged = judged;
        _held = held;
        _reading = reading;
        Name = name;
        _givenPath = givenPath;
        FinalPath = finalPath;
        TempPath = tempPath;
        Replace = replace;
        _overwrite = overwrite;
        _createdParents = createdParents;
    }

    // The folder at the output's path that the run judged it could replace when it started (its device and inode; null
    // where there was none, or this system cannot tell): a person may move it aside and another to its name meanwhile.
    private readonly FileIdentity? _judged;

    // Whether --force was given: without it, a folder that was there when the run started is replaced only while it is still empty.
    private readonly bool _overwrite;

    // The existing output's lock (OutputFolderLock), held until this folder is disposed: no run reads a state in it, or
    // writes one there, while this one may replace it.
    private readonly OutputFolderLock _held;

    // The shared locks on the input folders (InputFolderLock), held as long: no run replaces one while this one reads it.
    private readonly IReadOnlyList<FolderLock> _reading;

    // The folders above the output this run made (deepest first): a run that ends without output removes them again.
    private readonly IReadOnlyList<string> _createdParents;

    /// <summary>How messages name the output: the option that gave it ("--out"), or what it is.</summary>
    public string Name { get; }

    /// <summary>Where the folder will be once committed: the output's physical path (links resolved).</summary>
    public string FinalPath { get; }

    // The output as the person gave it (a relative `-o out/m`, a link): what messages name, as the checks before the work do.
    private readonly string _givenPath;
    /// <summary>Where files are written until then.</summary>
    public string TempPath { get; }
    private bool Replace { get; }

    /// <summary>
    /// Starts an output folder at <paramref name="path"/>. It must not exist, or be empty, unless
    /// <paramref name="overwrite"/>. It must not be, contain or lie inside any of <paramref name="protectedInputs"/>
    /// (files or folders), compared after resolving links (<see cref="PathGuard"/>): the inputs are never touched.
    /// Until disposed it holds a shared lock on each input folder (<see cref="InputFolderLock"/>) and an exclusive one on
    /// the existing output and each folder in it (<see cref="OutputFolderLock"/>): a run reading a state or a model there
    /// refuses its replacement, and no run replaces an input this one reads.
    /// </summary>
    public static AtomicDirectory Create(string path, bool overwrite, params string[] protectedInputs) =>
        CreateNamed("--out", path, overwrite, protectedInputs);

    /// <summary>As <see cref="Create"/>, with messages naming the output <paramref name="name"/> instead of --out.</summary>
    public static AtomicDirectory CreateNamed(string name, string path, bool overwrite, params string[] protectedInputs)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(protectedInputs);
        foreach (string input in protectedInputs)
        {
            PathGuard.RequireApart(path, name, input, "the input folder");
        }
        // The inputs are read while the run writes: a run replacing one (--force) is refused until this one ends. The
        // output is locked before what it holds is judged: a state folder in it that another run is writing holds that
        // run's staged files, which are no reason to refuse (or to ask for the folder to be emptied).
        var reading = new List<FolderLock>();
        OutputFolderLock? held = null;
        try
        {
            foreach (string input in protectedInputs)
            {
                if (InputFolderLock.Acquire(input, "the input folder") is { } l)
                {
                    reading.Add(l);
                }
            }
            string real = RealPath.Resolve(path, name);
            held = LockOutput(name, path, overwrite);
            // The folder the rename at the end may replace is the one there when the run first locked its output (prune
            // locks it before calibrating and claims it after): the lock checked that the path named it then.
            FileIdentity? judged = held.IdentityAtFirstLock;
            if (!held.ExistedAtFirstLock && Directory.Exists(real))
            {
                throw CreatedMeanwhile(name, path, overwrite, null);
            }
            string full = RequireUsable(name, path, overwrite);
            bool exists = Directory.Exists(full);
            string temp = TemporaryNames.Sibling(full, "tmp");
            IReadOnlyList<string> created = [];
            try
            {
                created = MadeFolders.Create(Path.GetDirectoryName(full) ?? ".");
                MakeFresh(temp);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                MadeFolders.RemoveEmpty(created);
                throw new IOException($"{name} '{path}': cannot create a folder there: {Reason(e)}", e);
            }
            return new AtomicDirectory(name, path, full, temp, exists, overwrite, created, held, reading, judged);
        }
        catch
        {
            held?.Dispose();
            reading.ForEach(l => l.Dispose());
            throw;
        }
    }

    // Makes the temporary folder, refusing a name already taken: the name is predictable (TemporaryNames.Sibling) and
    // may lie in a shared folder, and Directory.CreateDirectory accepts a link to a folder there, through which the
    // output's files would be written into the folder it names, over that folder's files of the same names.
    private static void MakeFresh(string temp)
    {
        if (Path.Exists(temp) || new FileInfo(temp).LinkTarget is not null)
        {
            throw new IOException($"its temporary name '{Path.GetFileName(temp)}' is taken by something this run did not make; nothing was written");
        }
        Directory.CreateDirectory(temp);
        if (new DirectoryInfo(temp).LinkTarget is not null)
        {
            throw new IOException($"its temporary name '{Path.GetFileName(temp)}' was taken by a link as this run made it; nothing was written");
        }
    }

    /// <summary>
    /// Locks the output at <paramref name="path"/> to replace it (<see cref="OutputFolderLock"/>), as
    /// <see cref="CreateNamed"/> does and a command that claims its output after long work does before it. Where another
    /// run holds the folder or one in it, what would refuse the output once that run ended is said instead (content
    /// without --force, a folder --force does not replace, no model or report, a mount point): waiting, which the "in use"
    /// line advises, would only lead to it. Not where another run writes in the folder held (a state writer's lock): what
    /// that folder holds is then that run's staging, which is no reason to refuse.
    /// </summary>
    /// <exception cref="IOException">The output would be refused anyway (<see cref="RequireUsable(string, string, bool)"/>'s line).</exception>
    /// <exception cref="IOException">Another run holds it, and nothing else refuses it: the "in use" line.</exception>
    public static OutputFolderLock LockOutput(string name, string path, bool overwrite)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string real = RealPath.Resolve(path, name);
        return OutputFolderLock.Acquire(name, path, real, held =>
        {
            if (held != real || HeldByReadersOnly(real))
            {
                // Readers leave the folder as it is, and a folder in it held by any run is left out of the judgement.
                RequireUsable(name, path, overwrite, besides: held == real ? null : held);
            }
        });
    }

    // Whether the runs that hold `folder` only read it (a shared lock is granted): then what it holds is what they found.
    private static bool HeldByReadersOnly(string folder)
    {
        try
        {
            using FolderLock? reading = FolderLock.TryAcquireToRead(folder);
            return reading is not null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// The checks <see cref="CreateNamed"/> makes of the place itself (not a file, not a mount point, empty unless
    /// <paramref name="overwrite"/> and then an output copal wrote), for a command to make before long work that
    /// precedes its output (a prune calibrates first); returns the resolved path.
    /// </summary>
    public static string RequireUsable(string name, string path, bool overwrite) => RequireUsable(name, path, overwrite, besides: null);

    // As above, leaving out of the judgement the folder `besides` in the output (one another run holds).
    private static string RequireUsable(string name, string path, bool overwrite, string? besides)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        // A link given as --out is followed: the folder it points to is the one written (and replaced with --force).
        string full = RealPath.Resolve(path, name);
        if (System.IO.File.Exists(full))
        {
            throw new IOException($"{name} '{path}' is an existing file, not a folder");
        }
        bool exists = Directory.Exists(full);
        // A file on the way: no folder can be made there. Said now and in plain words; creating the folder after the
        // work that precedes it failed with .NET's "The file '...' already exists.".
        if (!exists && MadeFolders.NearestExistingAbove(full) is string above && System.IO.File.Exists(above))
        {
            throw new IOException($"{name} '{path}': '{above}' is a file, so no folder can be made there");
        }
        if (exists && MountPoints.IsMountPoint(full))
        {
            throw new IOException($"{name} '{path}' is a mount point, which the finished output cannot be renamed onto; choose a folder inside it");
        }
        if (exists && Directory.EnumerateFileSystemEntries(full).Any())
        {
            if (!overwrite)
            {
                throw new IOException($"{name} '{path}' exists and is not empty; pass --force to replace it");
            }
            RequireReplaceable(name, path, full, besides);
        }
        return full;
    }

    /// <summary>
    /// Refuses, before the first byte is written, an output of <paramref name="bytes"/> that the free space of the file
    /// system it goes to cannot hold: a run that would fill the disk fails at once, naming both sizes, instead of
    /// minutes later (where it would still leave nothing behind).
    /// </summary>
    public void RequireSpace(long bytes, string what) => DiskSpace.Require(Name, _givenPath, bytes, what, measuredAt: TempPath);

    /// <summary>
    /// What marks a folder as a model or a report, the outputs --force may replace: every output copal writes holds one.
    /// Weights alone (*.safetensors) do not: a folder of checkpoints another program keeps (an image generator's
    /// models/checkpoints) holds nothing else, and is no output of copal's.
    /// </summary>
    private static readonly string[] s_outputMarkers = ["config.json", "report.json", "prune-report.json", "copal-state.json"];

    /// <summary>
    /// --force replaces a folder wholesale, so it takes only one that looks like an output copal writes (a model folder
    /// or a report folder: config.json or a report, and no subfolder but a COPAL state's or a model's named chat
    /// templates'); `-o ~/Documents --force` must not delete a person's files.
    /// </summary>
    private static void RequireReplaceable(string name, string path, string full, string? besides)
    {
        if (NotReplaceable(full, besides) is string what)
        {
            throw new IOException($"{name} '{path}' {what}, so it does not look like a model or report copal wrote; --force replaces only those: "
                + "empty it or choose another folder");
        }
    }

    /// <summary>The files of a COPAL state folder (`prune --state`), one kind of subfolder an output may hold.</summary>
    private static readonly string[] s_stateFiles = ["copal-state.json", "copal-state.safetensors"];

    /// <summary>The other: the named chat templates a written model takes from its input (additional_chat_templates/NAME.jinja).</summary>
    private const string ChatTemplatesFolder = "additional_chat_templates";

    // Why --force may not replace the folder at `full`, or null when it may; the folder `besides` in it is not looked at.
    private static string? NotReplaceable(string full, string? besides = null)
    {
        string? folder = Directory.EnumerateDirectories(full).Where(d => d != besides && !IsStateFolder(d) && !IsChatTemplatesFolder(d)).Select(Path.GetFileName).FirstOrDefault();
        bool marked = s_outputMarkers.Any(m => System.IO.File.Exists(Path.Combine(full, m)));
        if (folder is not null || !marked)
        {
            return folder is not null ? $"holds the folder '{folder}'" : "holds no config.json or report";
        }
        return null;
    }

    /// <summary>
    /// The lock file of a state folder (prune's CopalState.LockFileName, Windows' lock and earlier versions'): a run of
    /// those killed, or a folder copied while such a run held it, leaves it behind. It holds nothing.
    /// </summary>
    private const string StateLockFile = ".copal-state.lock";

    /// <summary>
    /// Whether <paramref name="folder"/>, in an output, is one --force replaces with it (a COPAL state's, the chat
    /// templates'); false for any other, and where it cannot be read: the output is then refused.
    /// </summary>
    internal static bool IsReplacedWithOutput(string folder)
    {
        try
        {
            return IsStateFolder(folder) || IsChatTemplatesFolder(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    // A folder `prune --state` wrote: a state's files and nothing else (but a lock file left behind), not through a link (`--state out/st`).
    private static bool IsStateFolder(string folder) =>
        new DirectoryInfo(folder).LinkTarget is null
        && Directory.EnumerateFileSystemEntries(folder).Where(e => Path.GetFileName(e) != StateLockFile || !System.IO.File.Exists(e)).ToList() is { Count: > 0 } entries
        && entries.All(e => s_stateFiles.Contains(Path.GetFileName(e)) && System.IO.File.Exists(e) && new FileInfo(e).LinkTarget is null);

    // The named chat templates copied from a model's input: *.jinja files and nothing else, not through a link.
    private static bool IsChatTemplatesFolder(string folder) =>
        Path.GetFileName(folder) == ChatTemplatesFolder
        && new DirectoryInfo(folder).LinkTarget is null
        && Directory.EnumerateFileSystemEntries(folder).All(e => e.EndsWith(".jinja", StringComparison.Ordinal) && System.IO.File.Exists(e) && new FileInfo(e).LinkTarget is null);

    /// <summary>A path inside the temporary folder.</summary>
    public string File(string name) => Path.Combine(TempPath, name);

    /// <summary>Where <paramref name="name"/> will be once committed: how messages name a file being written here.</summary>
    public string FinalFile(string name) => Path.Combine(FinalPath, name);

    /// <summary>
    /// Writes <paramref name="text"/> into the temporary folder as <paramref name="name"/>; a failure (a full disk, a
    /// file-size limit) names the output and the file, not the hidden temporary path .NET's message holds.
    /// </summary>
    public void WriteText(string name, string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            System.IO.File.WriteAllText(File(name), text);
        }
        catch (Exception e) when (IsWriteFailure(e))
        {
            throw new IOException($"{Name} '{_givenPath}': cannot write {name}: {Reason(e)}", e);
        }
    }

    /// <summary>Copies <paramref name="source"/> into the temporary folder as <paramref name="name"/>; a failure (a full disk) names both.</summary>
    public void CopyIn(string source, string name)
    {
        string target = File(name);
        try
        {
            System.IO.File.Copy(source, target);
        }
        catch (Exception e) when (IsWriteFailure(e))
        {
            throw new IOException($"{Name} '{_givenPath}': cannot copy '{source}' into it: {Reason(e)}", e);
        }
        // File.Copy keeps the source's mode: a read-only input (a cache, a shared model) made read-only outputs. Best
        // effort, and only where needed: some file systems (vfat, some FUSE mounts) refuse chmod on every file.
        if (OperatingSystem.IsWindows())
        {
            // There it keeps the read-only attribute, which Windows' deletes honour: Directory.Delete of a folder
            // holding such a file fails, so a replaced output (or an unfinished one) could not be removed.
            try
            {
                FileAttributes attributes = System.IO.File.GetAttributes(target);
                if (attributes.HasFlag(FileAttributes.ReadOnly))
                {
                    System.IO.File.SetAttributes(target, attributes & ~FileAttributes.ReadOnly);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The copy stands as the file system made it.
            }
        }
        else
        {
            try
            {
                UnixFileMode mode = System.IO.File.GetUnixFileMode(target);
                if (!mode.HasFlag(UnixFileMode.UserWrite))
                {
                    System.IO.File.SetUnixFileMode(target, mode | UnixFileMode.UserWrite);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The copy stands as the file system made it.
            }
        }
    }

    /// <summary>
    /// The write failure (<see cref="IsWriteFailure"/>) that <paramref name="e"/> is or wraps, innermost first: a
    /// <see cref="Safetensors.SafetensorsWriter"/> wraps its full disk in a <see cref="Safetensors.SafetensorsException"/>
    /// naming the file it writes, a hidden temporary one where the caller named none. Null for any other failure,
    /// such as a file that could not be read (its reader's exception wraps an <see cref="IOException"/> too, but it
    /// names the input, which a message about the output would hide).
    /// </summary>
    public static Exception? WriteFailureIn(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        Exception? failure = null;
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (IsWriteFailure(x))
            {
                failure = x;
            }
            else if (x is not Safetensors.SafetensorsException { WhileWriting: true })
            {
                break;
            }
        }
        return failure;
    }

    /// <summary>
    /// Whether <paramref name="e"/>, thrown while writing a file, is the file system's refusal rather than a bug: an
    /// <see cref="IOException"/> (a full disk), permission denied, or the <see cref="ArgumentOutOfRangeException"/>
    /// .NET throws for EFBIG (a file past the process's <c>ulimit -f</c>, or past what the file system holds: 4 GiB
    /// on FAT32). That one counts only where .NET's file I/O threw it: from code of ours (a bad slice) it is a bug.
    /// </summary>
    public static bool IsWriteFailure(Exception e) => e is IOException or UnauthorizedAccessException || IsFileTooLarge(e);

    private static bool IsFileTooLarge(Exception e)
    {
        if (e is not ArgumentOutOfRangeException)
        {
            return false;
        }
        // EFBIG is thrown by the errno mapping (Interop.ThrowExceptionForIoErrno) or by System.IO's own writes.
        Type? thrower = new System.Diagnostics.StackTrace(e).GetFrame(0)?.GetMethod()?.DeclaringType;
        return thrower is not null && (thrower.FullName?.StartsWith("Interop", StringComparison.Ordinal) == true
            || thrower.Namespace?.StartsWith("System.IO", StringComparison.Ordinal) == true);
    }

    /// <summary>How <see cref="Reason"/> words EFBIG, whose .NET message ("Specified file length was too large for the file system") names no limit.</summary>
    public const string FileTooLarge = "the file would exceed the largest file this process may write (ulimit -f) or its file system can hold";

    /// <summary>
    /// The operating system's reason, for messages that name the file themselves: without the path .NET appends
    /// (" : 'path'", which for an output is its hidden temporary name), and in plain words where .NET's message is
    /// only a path.
    /// </summary>
    public static string Reason(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        switch (e)
        {
            case UnauthorizedAccessException:
                return "permission denied";
            case ArgumentOutOfRangeException when IsFileTooLarge(e):
                return FileTooLarge;
            case DirectoryNotFoundException:
                return "a folder on its path does not exist or cannot hold folders";
            case FileNotFoundException:
                return "the file system there does not allow it";
        }
        // A full disk reads "No space left on device : 'path'", or, where .NET preallocated the file, "Failed to create
        // 'path' with allocation size 'n' because the disk was full."
        if (e.Message.Contains("because the disk was full", StringComparison.Ordinal))
        {
            return "No space left on device";
        }
        int cut = e.Message.IndexOf(" : '", StringComparison.Ordinal);
        return cut > 0 ? e.Message[..cut] : e.Message;
    }

    /// <summary>
    /// Moves folder <paramref name="source"/> onto <paramref name="destination"/>, which exists. Where the file system
    /// can, the two are swapped in one step (<see cref="FolderSwap"/>), so the destination's name always holds one of
    /// them, and the old folder, now under the source's name, is deleted. Elsewhere the destination is moved aside first
    /// under a temporary name of <paramref name="asideKind"/> ("old" for a previous output, which a second signal's
    /// cleanup leaves alone and a later run puts back if this one is killed before the source takes its name:
    /// <see cref="TemporaryNames.RestoreStale"/>), moved back if the move fails, and deleted once the source is in place.
    /// </summary>
    public static void ReplaceFolder(string source, string destination, string asideKind) => ReplaceFolder(source, destination, asideKind, null);

    /// <summary>
    /// As <see cref="ReplaceFolder(string, string, string)"/>; <paramref name="requireAside"/>, given the destination
    /// once moved aside (where nothing more can be added through its name), may throw to put it back unreplaced.
    /// </summary>
    internal static void ReplaceFolder(string source, string destination, string asideKind, Action<string>? requireAside)
    {
        if (FolderSwap.TrySwap(source, destination))
        {
            try
            {
                requireAside?.Invoke(source);
            }
            catch
            {
                // Swapped back, the old folder is where it was and the new one is the source again, deleted as an
                // unfinished output is. (The same swap failing a moment after it worked is not expected; it is said.)
                if (!FolderSwap.TrySwap(source, destination))
                {
                    throw new IOException($"'{destination}' holds the new output: the folder it held could not be put back");
                }
                throw;
            }
            TemporaryNames.DeleteQuietly(source);
            return;
        }
        string aside = TemporaryNames.Sibling(destination, asideKind);
        Directory.Move(destination, aside);
        try
        {
            requireAside?.Invoke(aside);
            Directory.Move(source, destination);
        }
        catch
        {
            Directory.Move(aside, destination);
            throw;
        }
        TemporaryNames.DeleteQuietly(aside);
    }

    /// <summary>
    /// Moves the finished folder into place (replacing an old one that --force allowed), its files and folders flushed
    /// to the disk first and the rename after (<see cref="Durable"/>), so that a power cut leaves the old output or the
    /// new one, whole.
    /// </summary>
    public void Commit()
    {
        try
        {
            Durable.FlushTree(TempPath);
        }
        catch (IOException e)
        {
            throw new IOException($"{Name} '{_givenPath}': cannot flush the finished output to the disk: {Reason(e)}; nothing was replaced", e);
        }
        Publish();
        try
        {
            Durable.FlushParent(FinalPath);
        }
        catch (IOException e)
        {
            throw new IOException($"{Name} '{_givenPath}' is in place, but the folder that holds it could not be flushed to the disk: {Reason(e)}", e);
        }
    }

    private void Publish()
    {
        // A folder made there since the run started (absent then, so not locked) is locked now: it may be another run's
        // --state, made for its lock, which this rename would take over. Held already where it was there at the start.
        using OutputFolderLock held = OutputFolderLock.Acquire(Name, _givenPath, FinalPath);
        if (Replace && Directory.Exists(FinalPath))
        {
            // The folder was checked when the run started, which may be hours ago: what it holds now is what would be
            // deleted. Without --force it must still be empty, and with it still look like an output copal wrote.
            // Checked in place first, so a folder that may not be replaced is never moved (a kill while it lay aside
            // would leave it under a temporary name, which the next run sweeps), then aside, where nothing more reaches it.
            RequireStillReplaceable(FinalPath);
            ReplaceFolder(TempPath, FinalPath, "old", RequireStillReplaceable);
            _committed = true;
        }
        else
        {
            try
            {
                Directory.Move(TempPath, FinalPath);
            }
            catch (IOException e) when (Directory.Exists(FinalPath) || System.IO.File.Exists(FinalPath))
            {
                // Absent (or empty) when this run claimed it: another run, or a person, made it meanwhile.
                throw CreatedMeanwhile(Name, _givenPath, _overwrite, e);
            }
            _committed = true;
        }
    }

    // A folder made at the output's name after the run found none there. With --force given, the folder was absent when
    // the run started, so nothing was there to replace then.
    private static IOException CreatedMeanwhile(string name, string path, bool overwrite, Exception? inner)
    {
        string advice = overwrite ? "run again to replace it" : "run again, with --force to replace it";
        return new IOException($"{name} '{path}' was created by something else (another run?) while this run wrote it; nothing was replaced: {advice}", inner);
    }

    // The existing output at commit (in place, then moved aside): a file or folder that appeared in it while the run
    // wrote (a person's notes, another run's finished output) is not deleted without consent.
    private void RequireStillReplaceable(string folder)
    {
        RequireJudgedFolder(folder);
        string? entry = Directory.EnumerateFileSystemEntries(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).FirstOrDefault();
        if (entry is null)
        {
            return;
        }
        if (!_overwrite)
        {
            throw new IOException($"{Name} '{_givenPath}' was empty when this run started and now holds '{entry}'; nothing was replaced: "
                + "run again, with --force to replace it, or choose another folder");
        }
        if (NotReplaceable(folder) is string what)
        {
            throw new IOException($"{Name} '{_givenPath}' now {what} (added while this run wrote), so it does not look like a model or report copal wrote; "
                + "nothing was replaced: empty it or choose another folder");
        }
    }

    // The existing output at commit must be the folder judged at the start, not one put at its name since (a person
    // moved the old output aside and their own model there): that one would be deleted however much it looks like an
    // output. Refused like the checks above: nothing is replaced, and the run's output is deleted with its temporary
    // folder (the next run would sweep a temporary folder left behind, so keeping it would only seem to keep it).
    private void RequireJudgedFolder(string folder)
    {
        if (_judged is { } then && FileIdentity.Of(folder) is { } now && now != then)
        {
            throw new IOException($"{Name} '{_givenPath}' now names another folder than the one this run judged it could replace when it started "
                + $"(device:inode {then.Device}:{then.Inode} then, {now.Device}:{now.Inode} now: moved or replaced while this run wrote); nothing was replaced "
                + "and this run's output was deleted: run again to replace the folder there now, or choose another folder");
        }
    }

    /// <summary>Deletes the temporary folder unless committed. Never throws: it runs while an error unwinds.</summary>
    public void Dispose()
    {
        if (!_committed)
        {
            TemporaryNames.DeleteQuietly(TempPath);
            MadeFolders.RemoveEmpty(_createdParents);
        }
        _held.Dispose();
        foreach (FolderLock l in _reading)
        {
            l.Dispose();
        }
    }
}
