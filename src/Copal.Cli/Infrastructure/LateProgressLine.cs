using System.Diagnostics;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// A <see cref="ProgressLine"/> for a step that is usually quick but can take long (tokenizing a file, the prefill of a
/// prompt): nothing is shown until the step has taken <see cref="Silent"/>, so a short prompt or a small file adds no
/// line to stderr, and a long one shows its progress from then on, ending on its last update.
/// </summary>
internal sealed class LateProgressLine(bool quiet) : IDisposable
{
    private static readonly TimeSpan Silent = TimeSpan.FromSeconds(1);

    private readonly ProgressLine _line = new(quiet);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private bool _shown;

    /// <summary>Shows <paramref name="text"/> with done of total, once the step has taken a second and is not yet done.</summary>
    public void Update(string text, long done, long total)
    {
        if (!_shown && (_clock.Elapsed < Silent || done >= total))
        {
            return;
        }
        _shown = true;
        _line.Update(text, done, total);
    }

    /// <summary>Ends the line on its final state, when one was shown.</summary>
    public void Done() => _line.Done();

    /// <summary>Ends the line only: a failed or cancelled run is not shown as further along.</summary>
    public void Dispose() => _line.Dispose();
}
