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
            CompactReport report = CheckpointCompactor.Compact(dense, full, CompactFormat.Auto, overwrite: false, cancellationToken: cancellationToken);
            if (!quiet)
            {
                CompactCommand.Report(report, "prune --compact", outDirectory, asJson: false);
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
