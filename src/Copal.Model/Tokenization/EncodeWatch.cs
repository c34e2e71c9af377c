namespace Copal.Model.Tokenization;

/// <summary>
/// What an encode checks as it goes through a long text: its cancellation token before each word, and its progress
/// every <see cref="ReportEveryChars"/> characters. A whole file (52 MB of WikiText is 13.7 million tokens) is one
/// call of several seconds, which before was neither cancellable nor visible.
/// </summary>
/// <remarks>
/// The stages see normalized text, a piece at a time; the watch maps a position in the current piece back to the
/// original text in proportion (<see cref="Piece"/>), so progress is counted in the text's own characters.
/// </remarks>
internal sealed class EncodeWatch(IProgress<TokenizeProgress>? progress, long charsTotal, CancellationToken cancellationToken)
{
    /// <summary>About a tenth of a second of encoding between reports.</summary>
    internal const int ReportEveryChars = 1 << 20;

    private long _pieceStart;
    private double _charsPerNormalized;
    private long _nextReport = ReportEveryChars;

    /// <summary>Where the text being encoded starts in the whole (a document's offset in a file of documents).</summary>
    public long Origin { get; set; }

    /// <summary>The stages now encode the piece text[rawStart..rawStart+rawLength], normalized to normalizedLength chars.</summary>
    public void Piece(int rawStart, int rawLength, int normalizedLength)
    {
        _pieceStart = Origin + rawStart;
        _charsPerNormalized = normalizedLength == 0 ? 0 : (double)rawLength / normalizedLength;
    }

    /// <summary>Called before each word: <paramref name="normalizedOffset"/> is the word's start in the normalized piece.</summary>
    public void At(int normalizedOffset)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (progress is null)
        {
            return;
        }
        long done = Math.Clamp(_pieceStart + (long)(Math.Max(0, normalizedOffset) * _charsPerNormalized), 0, charsTotal);
        if (done >= _nextReport)
        {
            _nextReport = done + ReportEveryChars;
            progress.Report(new TokenizeProgress(done, charsTotal));
        }
    }

    /// <summary>The whole text is encoded: checked once more, and reported as done.</summary>
    public void Done()
    {
        cancellationToken.ThrowIfCancellationRequested();
        progress?.Report(new TokenizeProgress(charsTotal, charsTotal));
    }

    public void ThrowIfCancellationRequested() => cancellationToken.ThrowIfCancellationRequested();
}
