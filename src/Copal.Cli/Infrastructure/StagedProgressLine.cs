using Copal.Model.Weights;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// A compaction's or densification's progress: one line a stage, so each stage's share and ETA are its own (a
/// second pass timed from the start of the first would predict its end wrongly).
/// </summary>
internal sealed class StagedProgressLine(string command, bool quiet) : IProgress<CompactProgress>, IDisposable
{
    private ProgressLine? _line;
    private string? _stage;

    public void Report(CompactProgress value)
    {
        if (value.Stage != _stage)
        {
            _line?.Done();
            _line = new ProgressLine(quiet);
            _stage = value.Stage;
        }
        _line!.UpdateBytes($"copal {command}: {value.Stage}", value.BytesDone, value.BytesTotal);
    }

    /// <summary>Ends the last stage's line on its final state.</summary>
    public void Done() => _line?.Done();

    /// <summary>Ends the line only: a failed or cancelled run is not shown as further along.</summary>
    public void Dispose() => _line?.Dispose();
}
