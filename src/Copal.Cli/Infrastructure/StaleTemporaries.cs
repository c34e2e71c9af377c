using System.CommandLine;
using Copal.Tensors.IO;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// On start, removes what killed runs (SIGKILL, power loss) left where this run writes: the hidden temporary folders
/// and files named as <see cref="TemporaryNames"/> makes them, whose process is gone. Looks beside --out, inside
/// --temp, and, for continual without --temp, in the system temp folder, where its working folder goes; says so in one
/// line on stderr. Prune's --state and --resume folders are swept by prune itself (<see cref="SweepFolder"/>) once it
/// holds their lock: two runs starting together on one folder would otherwise both settle what a killed run left there,
/// the one refused by the lock included (a state a killed run was copying there is finished or dropped before it is read). A previous output such a run had moved aside to replace it is put back instead, and a copy of the COPAL
/// state it owed --state after its model was in place is finished (<see cref="CommitRecord"/>), or dropped where that model
/// is not in place, each said in one line, as is a record that cannot be settled now.
/// </summary>
internal static class StaleTemporaries
{
    public static void Sweep(ParseResult parse)
    {
        foreach (string folder in Folders(parse))
        {
            SweepFolder(folder);
        }
    }

    /// <summary>Sweeps <paramref name="folder"/> (its real path) as <see cref="Sweep"/> does each of its folders.</summary>
    public static void SweepFolder(string folder)
    {
        // First what must not be removed: a previous output that a killed run had moved aside to replace it.
        IReadOnlyList<string> restored = TemporaryNames.RestoreStale(folder);
        if (restored.Count > 0)
        {
            Out.Info($"copal: put back {restored.Count} {(restored.Count == 1 ? "output" : "outputs")} that an interrupted run had moved aside in '{folder}': {string.Join(", ", restored)}");
        }
        // Then the renames a killed run owed after its output was in place (prune's copy of the COPAL state in --state).
        // Named as that run's model, not as what its folder holds now: a later run may have written over it.
        foreach ((string record, CommitRecord.Settled settled) in TemporaryNames.FinishStale(folder))
        {
            Out.Info(settled switch
            {
                { Outcome: CommitRecord.Outcome.Finished } =>
                    $"copal: finished the state copy of an interrupted run in '{folder}': {string.Join(", ", settled.Finished)} now hold the state of the model it put in '{Path.GetDirectoryName(settled.Output)}'",
                { Outcome: CommitRecord.Outcome.Dropped, Output: null } =>
                    $"copal: dropped the state copy of an interrupted run in '{folder}': its record {record} was cut short as it was written, before its model's rename; the state there is unchanged",
                { Outcome: CommitRecord.Outcome.Dropped } =>
                    $"copal: dropped the state copy of an interrupted run in '{folder}': its model's '{settled.Output}' {(File.Exists(settled.Output) ? "holds another state (that model never took its place, or a later run replaced it)" : "is missing (that run stopped before its model took its place)")}; the state there is unchanged",
                _ =>
                    $"copal: cannot settle the state copy of an interrupted run in '{folder}' now: {OneLine.Of(settled.Problem ?? "")}; its record {record} and staged files stay for a later run",
            });
        }
        IReadOnlyList<string> removed = TemporaryNames.RemoveStale(folder);
        if (removed.Count > 0)
        {
            Out.Info($"copal: removed {removed.Count} stale temporary {(removed.Count == 1 ? "entry" : "entries")} of interrupted runs from '{folder}': {string.Join(", ", removed)}");
        }
    }

    private static IEnumerable<string> Folders(ParseResult parse)
    {
        var folders = new List<string>();
        foreach (Option option in parse.CommandResult.Command.Options)
        {
            if (option.Name is not ("--out" or "--temp") || parse.GetResult(option) is null || parse.GetValue<string?>(option.Name) is not string value
                || value.Length == 0 || value == "-")
            {
                continue;
            }
            try
            {
                string real = RealPath.Resolve(value);
                string? folder = option.Name == "--out" ? Path.GetDirectoryName(real) : real;
                if (folder is not null && !folders.Contains(folder, StringComparer.Ordinal))
                {
                    folders.Add(folder);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                // A bad path: the command itself reports it.
            }
        }
        if (parse.CommandResult.Command.Name == "continual" && parse.GetResult(parse.CommandResult.Command.Options.First(o => o.Name == "--temp")) is null)
        {
            // Its working folder of intermediate models lives there unless --temp says otherwise.
            string systemTemp = Path.TrimEndingDirectorySeparator(Path.GetTempPath());
            if (!folders.Contains(systemTemp, StringComparer.Ordinal))
            {
                folders.Add(systemTemp);
            }
        }
        return folders;
    }
}
