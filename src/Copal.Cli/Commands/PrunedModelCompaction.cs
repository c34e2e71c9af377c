using Copal.Cli.Infrastructure;
using Copal.Model.Weights;
using Copal.Tensors.IO;

namespace Copal.Cli.Commands;

/// <summary><c>copal prune --compact</c>: compacts the freshly written pruned folder in place (through a sibling folder).</summary>
internal static class PrunedModelCompaction
{
    public static void Apply(string outDirectory, bool quiet, CancellationToken cancellationToken = default)
    {
        string full = RealPath.Resolve(outDirectory);
        // Named as ours, so a killed run's leftover is swept by the next run (TemporaryNames).
        string dense = TemporaryNames.Sibling(full, "tmp");
        Directory.Move(full, dense);
        try
        {
            using var progress = new StagedProgressLine("prune --compact", quiet);
            CompactReport report = CheckpointCompactor.Compact(dense, full, CompactFormat.Auto, overwrite: false, progress, cancellationToken);
            progress.Done();
            if (!quiet)
            {
                CompactCommand.Report(report, "prune --compact", outDirectory, asJson: false);
            }
        }
        catch (NothingToConvertException)
        {
            // Too little sparsity for any linear to be smaller compact (say --sparsity 0.2): the pruned model stays
            // dense, which is what was written, and the run succeeds.
            Directory.Move(dense, full);
            dense = "";
            if (!quiet)
            {
                Out.Info(FormattableString.Invariant($"copal prune --compact: every linear stays dense (compact, a linear needs {CheckpointCompactor.MinBitmaskSparsity * 100:F0} % zeros or 2:4 to be smaller); wrote {outDirectory}"));
            }
        }
        catch
        {
            if (!Directory.Exists(full))
            {
                Directory.Move(dense, full);
                dense = "";
            }
            throw;
        }
        finally
        {
            if (dense.Length > 0 && Directory.Exists(dense) && Directory.Exists(full))
            {
                Directory.Delete(dense, recursive: true);
            }
        }
    }
}
