using System.CommandLine;
using System.Runtime.InteropServices;
using Copal.Tensors.Backends;
using Copal.Tensors.IO;
using Copal.Tensors.Safetensors;

namespace Copal.Cli.Infrastructure;

/// <summary>Options every command shares, and the glue that runs a command body with error handling.</summary>
internal static class CommonOptions
{
    /// <summary>The device spec forms --device accepts; which devices exist is `copal devices`'s to say.</summary>
    public const string DeviceForms = "auto, cpu, cuda[:N], opencl[:N] or ilgpu-cpu";

    public static Option<string> Device() => new Option<string>("--device")
    {
        Description = $"Where to compute: {DeviceForms} (see `copal devices`). cuda and opencl run ILGPU kernels on a GPU; "
            + "ilgpu-cpu runs the same kernels on ILGPU's CPU accelerator, a debugging and testing device that is slow by design",
        DefaultValueFactory = _ => "auto",
    }.Accept(spec => IsDeviceSpec(spec) ? null : $"{DeviceForms} (`copal devices` lists this machine's)");

    /// <summary>Whether <paramref name="spec"/> has a device spec's form (not whether that device exists).</summary>
    internal static bool IsDeviceSpec(string spec)
    {
        string s = spec.Trim().ToLowerInvariant();
        int colon = s.IndexOf(':', StringComparison.Ordinal);
        string kind = colon < 0 ? s : s[..colon];
        if (colon < 0)
        {
            return kind is "auto" or "cpu" or "cuda" or "opencl" or "ilgpu-cpu";
        }
        return kind is "cuda" or "opencl"
            && s[(colon + 1)..].Length > 0 && s[(colon + 1)..].All(char.IsAsciiDigit) && int.TryParse(s[(colon + 1)..], out _);
    }

    /// <summary>
    /// --mmap, defaulting to <paramref name="defaultValue"/>: "auto" for the commands that decode for long (serve,
    /// bench), "on" for one-shot runs, where reading the weights in costs more load time than it saves.
    /// </summary>
    public static Option<string> Mmap(string defaultValue) => new Option<string>("--mmap")
    {
        Description = "How the CPU holds the weights: off copies them into this process's memory, laid out for its kernels "
            + "(a slower load, a faster decode, much faster batched decode), on maps the files (nothing copied; the system may reclaim the pages), "
            + "auto copies them when they take at most half of the available memory. "
            + "A GPU uploads the weights; for it auto maps",
        DefaultValueFactory = _ => defaultValue,
    }.OneOf("auto", "on", "off");

    public static WeightResidence ParseMmap(string value) => value.ToLowerInvariant() switch
    {
        "on" => WeightResidence.Mapped,
        "off" => WeightResidence.Memory,
        _ => WeightResidence.Auto,
    };

    public static Option<bool> Json() => new("--json") { Description = "Write the result as JSON on stdout" };

    public static Option<bool> AllowNonFinite() => new("--allow-nonfinite")
    {
        Description = "Load weights that hold NaN or Inf (refused by default); a run still stops at the first non-finite logits",
    };

    public static Option<string> Model(bool required = true) => new Option<string>("--model", "-m")
    {
        Description = "Model folder (config.json, *.safetensors, tokenizer.json)",
        Required = required,
    }.InputFolder("a model folder");

    /// <summary>
    /// The model as the first argument, the older form <c>inspect</c>, <c>compact</c> and <c>densify</c> keep beside
    /// -m/--model. Named "model" in messages; an empty value names no path, as for -m. A word that starts with '-'
    /// (other than '-' itself, refused as standard input) is a misspelled or unknown option, reported as the
    /// other commands report one, not taken for the model (Program.FirstUsageError names it first).
    /// </summary>
    public static Argument<string?> PositionalModel(string description)
    {
        var argument = new Argument<string?>("model") { Description = description, Arity = ArgumentArity.ZeroOrOne, Hidden = true };
        argument.Validators.Add(r =>
        {
            string? token = r.Tokens.Count > 0 ? r.Tokens[0].Value : null;
            if (token is not null && IsOptionLike(token))
            {
                r.AddError(UnknownOption(token));
            }
            else if (token == Inputs.Stdio)
            {
                r.AddError(OptionRules.StdinRefused("model", "a model folder"));
            }
            else if (token is { Length: 0 })
            {
                r.AddError($"model: expected {OptionRules.PathExpected}, got {OptionRules.Shown("")}");
            }
        });
        return argument;
    }

    /// <summary>A word the way an option is written: '-' and more ('-' alone means standard input).</summary>
    public static bool IsOptionLike(string token) => token.Length > 1 && token[0] == '-';

    /// <summary>How a word that is no option of the command is reported.</summary>
    public static string UnknownOption(string token) => $"unknown option '{token}'";

    /// <summary>
    /// The model of a command that also takes it positionally (the older form, kept as an alias): exactly one of the
    /// two, or both naming the same folder or file once links, "." and ".." are resolved. Also how a message names it: the option as typed, or "model".
    /// </summary>
    public static (string Path, string Typed) ModelOrArgument(ParseResult p, Option<string> option, Argument<string?> argument)
    {
        string? fromOption = p.GetValue(option);
        string? positional = p.GetValue(argument) is string given ? RealPath.AsTheKernelReadsIt(given) : null;
        if (fromOption is null && positional is null)
        {
            throw new UsageException("give the model with -m/--model PATH");
        }
        // The same folder however spelled (a trailing separator, "..", a symbolic link anywhere in the path) is one model.
        if (fromOption is not null && positional is not null
            && !string.Equals(RealPath.Resolve(fromOption), RealPath.Resolve(positional), RealPath.Comparison))
        {
            throw new UsageException($"the model is given twice, as '{positional}' and as {p.Typed(option)} '{fromOption}'; give it once, with -m/--model");
        }
        (string path, string typed) = fromOption is not null ? (fromOption, p.Typed(option)) : (positional!, "model");
        Inputs.RefuseStdio(path, typed, "a model folder"); // inspect also takes a .safetensors file, but never '-'
        return (path, typed);
    }

    /// <summary>
    /// A message that starts with an option's name, with the option as the user typed it: "-o 'x' exists", not
    /// "--out 'x' exists" (docs/cli.md). Checks deep in the library name an output --out whatever the spelling.
    /// </summary>
    internal static string AsTyped(string message, ParseResult parse)
    {
        foreach (Option option in parse.CommandResult.Command.Options)
        {
            string name = option.Name, typed = parse.Typed(option);
            if (typed != name && message.StartsWith(name, StringComparison.Ordinal) && message.Length > name.Length && message[name.Length] is ' ' or ':')
            {
                return typed + message[name.Length..];
            }
        }
        return message;
    }

    /// <summary>Whether the command was given a file or folder to write (--out other than standard output, --state).</summary>
    private static bool WritesFiles(ParseResult parse) =>
        parse.CommandResult.Command.Options.Any(o => o.Name is "--out" or "--state" && parse.GetResult(o) is not null
            && parse.GetValue<string?>(o.Name) is string path && !Inputs.IsStdio(path) && !StandardOutput.IsNamedBy(path));

    /// <summary>Creates the backend named by --device, with one-time notices on stderr.</summary>
    public static IBackend CreateBackend(string spec) => BackendFactory.Create(spec, message => Out.Info($"copal: {message}"));

    /// <summary>
    /// Runs <paramref name="body"/> with Ctrl-C cancellation and turns exceptions into one line and an exit code; a
    /// usage error adds the pointer at the command's help, as a parse error does.
    /// </summary>
    public static void SetBody(this Command command, Func<ParseResult, CancellationToken, int> body)
    {
        command.SetAction((parseResult, _) =>
        {
            try
            {
                StaleTemporaries.Sweep(parseResult);
                int code = body(parseResult, Cancellation.Token);
                // Work whose standard output nobody read to the end is not delivered: exit 141, as SIGPIPE would have
                // ended the command at the write (the notice of StandardOutput said so); any file it wrote stays.
                if (code == CliErrors.Ok && StandardOutput.WasCutShort())
                {
                    return Task.FromResult(CliErrors.OutputClosed);
                }
                return Task.FromResult(Cancellation.Finish(code, WritesFiles(parseResult)));
            }
            catch (Exception e)
            {
                int code = CliErrors.Report(e, Console.Error, message => AsTyped(message, parseResult), WritesFiles(parseResult),
                    name => parseResult.CommandResult.Command.Options.Any(o => o.Name == name));
                if (code == CliErrors.Usage)
                {
                    Console.Error.WriteLine(CliErrors.HelpPointer(parseResult.CommandResult));
                }
                return Task.FromResult(code);
            }
        });
    }
}

/// <summary>
/// Ctrl-C, SIGTERM and SIGHUP cancel the running command cooperatively, so outputs are cleaned up rather than cut
/// off. The first one cancels; a second deletes this run's temporary files and folders and lets the runtime end the
/// process at once (anything that still escapes, a SIGKILL's leftovers say, the next run removes: <see cref="StaleTemporaries"/>).
/// One that comes once the command has done its work cancels nothing: the run exits 0 and says so (<see cref="Finish"/>).
/// </summary>
internal static class Cancellation
{
    private static readonly CancellationTokenSource s_source = new();
    private static readonly List<PosixSignalRegistration> s_registrations = [];
    private static int s_requests;
    private static int s_exitCode = CliErrors.Cancelled;
    private static readonly Lock s_gate = new();
    private static bool s_signalled;
    private static string? s_finished; // once the command has succeeded: what a signal from then on is told

    public static CancellationToken Token => s_source.Token;

    /// <summary>The exit code of a cancelled run: 130 for Ctrl-C, 128 + the signal number for the others (143 SIGTERM, 129 SIGHUP), as shells report them.</summary>
    public static int ExitCode => Volatile.Read(ref s_exitCode);

    public static void Install()
    {
        Console.CancelKeyPress += (_, e) => e.Cancel = Request(CliErrors.Cancelled, "copal: cancelling (press Ctrl-C again to abort at once)...", fromSignal: true);
        foreach ((PosixSignal signal, int number) in new[] { (PosixSignal.SIGTERM, 15), (PosixSignal.SIGHUP, 1) })
        {
            try
            {
                s_registrations.Add(PosixSignalRegistration.Create(signal, context =>
                    context.Cancel = Request(128 + number, $"copal: cancelling on {context.Signal} (send it again to stop at once)...", fromSignal: true)));
            }
            catch (PlatformNotSupportedException)
            {
                // Not a signal this platform has.
            }
        }
        // A write past the file-size limit (ulimit -f) raises SIGXFSZ, whose default ends the process at once, leaving
        // the half-written temporary output with no word said. Handled, the write fails with EFBIG instead, which the
        // writers report as a full disk, naming the output, and clean up after.
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            s_registrations.Add(PosixSignalRegistration.Create((PosixSignal)SigXfsz, context => context.Cancel = true));
        }
    }

    // SIGXFSZ's number on Linux and macOS; PosixSignal takes a raw number for a signal it does not name.
    private const int SigXfsz = 25;

    /// <summary>
    /// Cancels as a signal does when the reader of standard output has exited: exit 141, as a process that SIGPIPE
    /// (13) ended, which is what a shell shows for a command cut off by <c>| head</c>. Once only: later calls do nothing.
    /// </summary>
    public static void OutputClosed()
    {
        if (!s_source.IsCancellationRequested)
        {
            _ = Request(CliErrors.OutputClosed, "copal: standard output was closed (its reader exited); stopping...", fromSignal: false);
        }
    }

    /// <summary>
    /// The exit code of a command whose body returned <paramref name="code"/>. A body that returned 0 did all its work,
    /// however late a signal came while it finished (after its output was renamed into place, say): nothing is left to
    /// cancel and the output is complete, so the run exits 0, and says so after its "cancelling..." line rather than
    /// leaving that as its last word. A signal from now on, until the process ends, is told the same.
    /// </summary>
    public static int Finish(int code, bool writesFiles)
    {
        if (code != CliErrors.Ok)
        {
            return code;
        }
        string finished = writesFiles
            ? "copal: too late to cancel: the run had done its work; its output is complete and kept (exit 0)"
            : "copal: too late to cancel: the run had done its work; its results are complete (exit 0)";
        bool signalled;
        lock (s_gate)
        {
            s_finished = finished;
            signalled = s_signalled;
        }
        if (signalled)
        {
            Console.Error.WriteLine(finished);
        }
        return code;
    }

    // True when this request cancels (the default action is suppressed); false for a repeat, which ends the process.
    private static bool Request(int exitCode, string notice, bool fromSignal)
    {
        // A repeat takes no lock: it must end the process whatever the first request is waiting on.
        if (Interlocked.Increment(ref s_requests) != 1)
        {
            TemporaryNames.RemoveOwn();
            FolderLock.ReleaseOwn();
            MadeFolders.RemoveOwn();
            return false;
        }
        string? finished;
        lock (s_gate)
        {
            // Under the lock, so that Finish sees a signal either before it looks or never.
            s_signalled = fromSignal;
            finished = s_finished;
            if (finished is null)
            {
                Volatile.Write(ref s_exitCode, exitCode);
            }
        }
        if (finished is not null)
        {
            // The command has succeeded and the process is ending with 0: the signal has nothing to cancel.
            if (fromSignal)
            {
                StandardError.WriteLine(finished);
            }
            return true;
        }
        ProgressLine.BreakForNotice();
        StandardError.WriteLine(notice);
        s_source.Cancel();
        return true;
    }
}
