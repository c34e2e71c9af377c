using Copal.Cli.Infrastructure;
using Copal.Model.Weights;
using Copal.Tensors.IO;
using Copal.Tensors.Safetensors;

namespace Copal.Cli.Commands;

/// <summary>
/// <c>copal prune --compact</c>: compacts the pruned model in the output's temporary folder, before that folder is
/// renamed into place (<see cref="Copal.Prune.Driver.PruneRequest.BeforeCommit"/>), so a compaction that fails or is
/// cancelled leaves no output at all, not the dense pruned model in its place.
/// </summary>
internal static class PrunedModelCompaction
{
    public static void Apply(string stagedDirectory, string outDirectory, bool quiet, CancellationToken cancellationToken = default)
    {
        // Beside the final output and named as ours, so a killed run's leftovers are swept by the next run (TemporaryNames).
        string full = RealPath.Resolve(outDirectory);
        string compacted = TemporaryNames.Sibling(full, "tmp");
        try
        {
            using var progress = new StagedProgressLine("prune --compact", quiet);
            CompactReport report = CheckpointCompactor.Compact(stagedDirectory, compacted, CompactFormat.Auto, overwrite: false, progress, cancellationToken);
            progress.Done();
            if (!quiet)
            {
                CompactCommand.Report(report, "prune --compact", outDirectory, asJson: false);
            }
        }
        catch (Exception e) when (e is IOException or SafetensorsException)
        {
            // The compactor names the folders it reads and writes, here the hidden temporary ones: name the output.
            throw new IOException(e.Message.Replace(compacted, full, StringComparison.Ordinal).Replace(stagedDirectory, full, StringComparison.Ordinal), e);
        }
        catch (NothingToConvertException)
        {
            // Too little sparsity for any linear to be smaller compact (say --sparsity 0.2): the pruned model stays
            // dense, which is what was written, and the run succeeds.
            if (!quiet)
            {
                Out.Info(FormattableString.Invariant($"copal prune --compact: every linear stays dense (compact, a linear needs {CheckpointCompactor.MinBitmaskSparsity * 100:F0} % zeros or 2:4 to be smaller); wrote {outDirectory}"));
            }
            return;
        }
        // The compact folder takes the staged one's place: that is the folder the job renames into place.
        try
        {
            AtomicDirectory.ReplaceFolder(compacted, stagedDirectory, "tmp");
        }
        catch
        {
            TemporaryNames.DeleteQuietly(compacted);
            throw;
        }
    }
}
