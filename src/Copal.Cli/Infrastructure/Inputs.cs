using Copal.Model.Evaluation;
using Copal.Tensors.IO;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// The paths a user gives: checked up front so that a message says what a path is (a file where a folder is expected,
/// and the reverse), and <c>-</c> for standard input or output where a file is expected.
/// </summary>
internal static class Inputs
{
    /// <summary>The path that means standard input (for an input file) or standard output (for an output file).</summary>
    public const string Stdio = "-";

    public static bool IsStdio(string? path) => path == Stdio;

    /// <summary>
    /// Refuses <c>-</c> where standard input is not read (docs/cli.md lists where it is), rather than looking for a
    /// file named '-'. <paramref name="instead"/> says what to give, e.g. "a file".
    /// </summary>
    public static void RefuseStdio(string path, string typed, string instead)
    {
        if (IsStdio(path))
        {
            throw new UsageException(OptionRules.StdinRefused(typed, instead));
        }
    }

    /// <summary>A model folder: it exists and is a folder. <paramref name="typed"/> is the option as typed, e.g. <c>-m</c>.</summary>
    public static string ModelFolder(string path, string typed)
    {
        RefuseStdio(path, typed, "a model folder");
        if (File.Exists(path))
        {
            RequireLinkReaches(path, typed, "model folder");
            throw new IOException($"{typed}: '{path}' is a file, expected a model folder (config.json, *.safetensors, tokenizer.json)");
        }
        if (!Directory.Exists(path))
        {
            throw new DirectoryNotFoundException($"{typed}: model folder '{path}' does not exist");
        }
        RequireOpenable(path, typed, "model folder", "config.json");
        return path;
    }

    // .NET's File.Exists is true for a link that reaches nothing (a loop of links, or a link whose target is gone),
    // which a folder's check took for a file: the loop is named with the option (RealPath), the gone target said not
    // to exist.
    private static void RequireLinkReaches(string path, string typed, string kind)
    {
        string real = RealPath.Resolve(path, typed);
        if (!File.Exists(real) && !Directory.Exists(real))
        {
            throw new DirectoryNotFoundException($"{typed}: {kind} '{path}' does not exist (a link to '{real}', which does not exist)");
        }
    }

    // A folder without read permission made its files look absent ("config.json: file not found", "no tokenizer.json
    // in the model folder"). One that cannot be listed is refused unless the file it is for is still reached by name
    // (search permission alone, as some shared installs grant, reads a model whose files are named).
    private static void RequireOpenable(string path, string typed, string kind, string fileByName)
    {
        if (!CanList(path) && !File.Exists(Path.Join(path, fileByName)))
        {
            throw new IOException($"{typed}: {kind} '{path}' cannot be read: permission denied");
        }
    }

    /// <summary>
    /// A COPAL state folder to continue from (<c>--resume</c>), where it exists (COPAL's own check says where it does
    /// not): one that cannot be listed is said to be so. Its links are looked for before it is read, which gave .NET's
    /// "Access to the path ... is denied.", naming no option.
    /// </summary>
    public static void StateFolder(string path, string typed)
    {
        if (Directory.Exists(path) && !CanList(path))
        {
            throw new IOException($"{typed}: state folder '{path}' cannot be read: permission denied");
        }
    }

    private static bool CanList(string folder)
    {
        try
        {
            using IEnumerator<string> entries = Directory.EnumerateFileSystemEntries(folder).GetEnumerator();
            entries.MoveNext();
            return true;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// A folder other than a model's (a tokenizer's, a state's): it exists and is a folder, and where
    /// <paramref name="fileByName"/> is given, it can be listed or that file in it reached by name.
    /// </summary>
    public static string Folder(string path, string typed, string what, string? fileByName = null)
    {
        RefuseStdio(path, typed, what);
        if (File.Exists(path))
        {
            RequireLinkReaches(path, typed, "folder");
            throw new IOException($"{typed}: '{path}' is a file, expected {what}");
        }
        if (!Directory.Exists(path))
        {
            throw new DirectoryNotFoundException($"{typed}: folder '{path}' does not exist");
        }
        if (fileByName is not null)
        {
            RequireOpenable(path, typed, "folder", fileByName);
        }
        return path;
    }

    /// <summary>An input text file: it exists and is a file (callers that read standard input for <c>-</c> check that first).</summary>
    public static string TextFile(string path, string typed)
    {
        RefuseStdio(path, typed, "a file");
        if (Directory.Exists(path))
        {
            throw new IOException($"{typed}: '{path}' is a folder, expected a text file");
        }
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{typed}: file '{path}' does not exist", path);
        }
        RequireReadable(path, typed);
        return path;
    }

    // A file that exists but cannot be opened (no read permission) failed later, after the model loaded, with .NET's
    // "Access to the path ... is denied." and no option named. Opening it here says so up front. A pipe or device is
    // not opened: opening a named pipe waits for its writer, and closing it again would lose what the writer sent.
    private static void RequireReadable(string path, string typed)
    {
        if (FileKind.IsStream(path))
        {
            return;
        }
        try
        {
            using FileStream probe = File.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"{typed}: file '{path}' cannot be read: {ReadFailure.Reason(e)}", e);
        }
    }

    /// <summary>
    /// The bytes of a text file, or of standard input for <c>-</c>. Reading standard input ends with
    /// <see cref="OperationCanceledException"/> as soon as <paramref name="cancellationToken"/> is cancelled (Ctrl-C,
    /// SIGTERM), even while the input stays open and nothing arrives: a blocked read cannot be cancelled, so it runs
    /// on a pool thread that is left behind (it ends with the process).
    /// </summary>
    public static byte[] ReadBytes(string path, string typed, CancellationToken cancellationToken)
    {
        if (!IsStdio(path))
        {
            return TextBytes.ReadFile(TextFile(path, typed));
        }
        cancellationToken.ThrowIfCancellationRequested();
        if (ClosedAtStart.StandardInput())
        {
            throw new IOException($"{typed}: standard input cannot be read: it was closed when copal started (<&-); give it with < FILE or through a pipe");
        }
        if (ClosedAtStart.InputWriterHeld() is string writer)
        {
            throw new IOException($"{typed}: standard input cannot be read: copal was given its pipe's write end too (descriptor {writer}), so it would never end; the program that starts copal must close that descriptor");
        }
        Task<byte[]> read = Task.Run(() =>
        {
            // The system's bare reason ("Is a directory" for `< folder`) named neither the option nor standard input.
            try
            {
                using Stream stdin = Console.OpenStandardInput();
                return TextBytes.Read(stdin, "standard input");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not FileTooLargeToReadException)
            {
                throw new IOException($"{typed}: standard input cannot be read: {ReadFailure.Reason(e)}", e);
            }
        }, CancellationToken.None);
        byte[] bytes = read.WaitAsync(cancellationToken).GetAwaiter().GetResult();
        // A signal that came as the input ended still means no output.
        cancellationToken.ThrowIfCancellationRequested();
        return bytes;
    }

    /// <summary>How a message names an input that may be standard input.</summary>
    public static string Describe(string path) => IsStdio(path) ? "standard input" : path;
}
