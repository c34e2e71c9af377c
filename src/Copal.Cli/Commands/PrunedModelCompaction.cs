using Copal.Cli.Infrastructure;
using Copal.Model.Weights;

namespace Copal.Cli.Commands;

/// <summary><c>copal prune --compact</c>: compacts the freshly written pruned folder in place (through a sibling folder).</summary>
internal static class PrunedModelCompaction
{
    public static void Apply(string outDirectory, bool quiet, CancellationToken cancellationToken = default)
    {
        string full = Path.GetFullPath(outDirectory).TrimEnd(Path.DirectorySeparatorChar);
        string dense = full + ".dense-tmp";
        if (Directory.Exists(dense))
        {
            throw new IOException($"'{dense}' exists; remove it and rerun");
        }
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
