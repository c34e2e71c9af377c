using Copal.Model.Tokenization;

namespace Copal.Model.Serving;

/// <summary>
/// The decoding thread's own copy of a request's stop-text matching, so a sequence ends at the token that completes a
/// stop text. The reader matches the same text to cut the reply, but it wakes later than the decoding thread steps
/// (on stories260K a reply of 11 tokens to a stop text cost 70–105 decoded before the reader's stop was heard).
/// Both decode the same ids with the same settings, so they find the match at the same token.
/// </summary>
internal sealed class StopTextWatch(TokenDecoderStream decoder, IReadOnlyList<string> stops)
{
    private readonly StopTextMatcher _matcher = new(stops);

    /// <summary>Whether the text of <paramref name="id"/>, after those seen before, completes a stop text.</summary>
    public bool Completes(int id)
    {
        _matcher.Push(decoder.Push(id), out bool matched);
        return matched;
    }
}
