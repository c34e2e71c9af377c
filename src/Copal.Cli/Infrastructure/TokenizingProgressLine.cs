using Copal.Model.Tokenization;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// The progress of tokenizing one long text (a whole --data, --calib or -f file: 52 MB of text is seconds of work)
/// on its own line, counted in the text's characters, once it has taken a second (<see cref="LateProgressLine"/>).
/// </summary>
internal sealed class TokenizingProgressLine(string what, bool quiet) : IProgress<TokenizeProgress>, IDisposable
{
    private readonly LateProgressLine _line = new(quiet);

    public void Report(TokenizeProgress value) => _line.Update($"copal: tokenizing {what} (characters)", value.CharsDone, value.CharsTotal);

    /// <summary>Ends the line on its final state, when one was shown.</summary>
    public void Done() => _line.Done();

    /// <summary>Ends the line only: a failed or cancelled run is not shown as further along.</summary>
    public void Dispose() => _line.Dispose();
}
