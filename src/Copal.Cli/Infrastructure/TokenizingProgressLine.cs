using System.Diagnostics;
using Copal.Model.Tokenization;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// The progress of tokenizing one long text (a whole --data, --calib or -f file: 52 MB of text is seconds of work)
/// on its own line, counted in the text's characters. A text tokenized within <see cref="Silent"/> shows no line, so
/// a prompt or a small file adds nothing to stderr.
/// </summary>
internal sealed class TokenizingProgressLine(string what, bool quiet) : IProgress<TokenizeProgress>, IDisposable
{
    private static readonly TimeSpan Silent = TimeSpan.FromSeconds(1);

    private readonly ProgressLine _line = new(quiet);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private bool _shown;

    public void Report(TokenizeProgress value)
    {
        if (!_shown && (_clock.Elapsed < Silent || value.CharsDone >= value.CharsTotal))
        {
            return;
        }
        _shown = true;
        _line.Update($"copal: tokenizing {what} (characters)", value.CharsDone, value.CharsTotal);
    }

    /// <summary>Ends the line on its final state, when one was shown.</summary>
    public void Done() => _line.Done();

    /// <summary>Ends the line only: a failed or cancelled run is not shown as further along.</summary>
    public void Dispose() => _line.Dispose();
}
