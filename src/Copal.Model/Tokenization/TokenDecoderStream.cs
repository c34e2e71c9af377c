using Copal.Model.Tokenization.Decoders;

namespace Copal.Model.Tokenization;

/// <summary>
/// Incremental detokenization for generation. <see cref="Push"/> returns only newly completed text: while the
/// tail is an incomplete UTF-8 character (decoded as U+FFFD) it returns "" and waits. Like HF's DecodeStream it
/// decodes a short window of recent ids twice (with and without the new id) and emits the difference, so
/// context-dependent decoders (Strip of the first space, Metaspace) behave as in a full decode.
/// <para>
/// A full decode is not always an extension of what was already emitted: byte fallback turns every byte of a run that
/// is not valid UTF-8 into U+FFFD, so ';' (byte token &lt;0x3B&gt;) followed by a stray &lt;0xE2&gt; and a word decodes
/// as "��word", rewriting the ';' sent before. Sampling meets such runs. Emitted text cannot be taken back, so the
/// stream goes on from the new decode's length: the rewrite only ever turns bytes into more U+FFFD, so the new text
/// is all still emitted, after U+FFFD for the rewritten bytes (vLLM resets its stream likewise rather than fail).
/// </para>
/// </summary>
public sealed class TokenDecoderStream
{
    private readonly CopalTokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly List<int> _ids = [];
    private string _prefix = "";
    private int _prefixIndex;

    internal TokenDecoderStream(CopalTokenizer tokenizer, bool skipSpecialTokens)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
    }

    /// <summary>
    /// Prompt ids <see cref="Prime"/> keeps as context at least (vLLM keeps five), so the rest of a long prompt is not
    /// decoded again. What follows decodes after them as after the whole prompt: the decoders look back only at the
    /// text's start (Strip, Metaspace), which the window's own decode has as well, and at a run of byte tokens, which
    /// the window never cuts (<see cref="PromptWindowStart"/>).
    /// </summary>
    private const int PromptContext = 8;

    /// <summary>
    /// Takes <paramref name="ids"/> (the prompt) as text already shown, without returning it: what is pushed next
    /// decodes as it does after them in a full decode, so a SentencePiece word that follows keeps its leading space
    /// (decoded alone, the Strip decoder takes it off), as OpenAI's and vLLM's completions give it.
    /// </summary>
    /// <exception cref="TokenizerException">An id it reads is not in the tokenizer: those of the prompt's end it keeps
    /// (the last eight, with the byte tokens before them) and the one before them; earlier ids are never read. The
    /// stream is left as it was.</exception>
    public void Prime(ReadOnlySpan<int> ids)
    {
        // Decoded before the stream takes the window: a refused id must not stay in it, failing every later Push.
        ReadOnlySpan<int> window = ids[PromptWindowStart(ids)..];
        string prefix = _tokenizer.Decode(window, _skipSpecialTokens);
        _ids.Clear();
        _ids.AddRange(window);
        _prefixIndex = _ids.Count;
        _prefix = prefix;
    }

    /// <summary>
    /// Where <see cref="Prime"/>'s window of the prompt starts: <see cref="PromptContext"/> ids from the end, moved back
    /// past a run of byte-fallback tokens (&lt;0xNN&gt;) it would cut. Such a run decodes as one UTF-8 string, all of it
    /// U+FFFD if it is not valid, so a run cut inside a character would turn the characters that complete it into
    /// U+FFFD too.
    /// </summary>
    private int PromptWindowStart(ReadOnlySpan<int> ids)
    {
        int start = Math.Max(0, ids.Length - PromptContext);
        while (start > 0 && ByteFallbackDecoder.TryParseByte(_tokenizer.IdToToken(ids[start - 1]), out _))
        {
            start--;
        }
        return start;
    }

    /// <summary>Adds one id and returns the text it completes ("" if none yet).</summary>
    /// <exception cref="TokenizerException"><paramref name="id"/> is not in the tokenizer; the stream is left as it was.</exception>
    public string Push(int id)
    {
        _ids.Add(id);
        string text;
        try
        {
            text = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), _skipSpecialTokens);
        }
        catch
        {
            // A refused id kept would fail every later Push and Flush.
            _ids.RemoveAt(_ids.Count - 1);
            throw;
        }
        if (text.Length <= _prefix.Length || text.EndsWith('\uFFFD'))
        {
            return "";
        }
        string added = text[_prefix.Length..];
        // Keep the ids from the previous emission point as context for the next decode.
        int newPrefixIndex = _ids.Count - _prefixIndex;
        _ids.RemoveRange(0, _prefixIndex);
        _prefixIndex = newPrefixIndex;
        _prefix = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), _skipSpecialTokens);
        return added;
    }

    /// <summary>
    /// Returns text still held back at the end of generation: a trailing U+FFFD that no later id completed.
    /// </summary>
    public string Flush()
    {
        string text = _tokenizer.Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids), _skipSpecialTokens);
        string rest = text.Length > _prefix.Length ? text[_prefix.Length..] : "";
        _ids.Clear();
        _prefix = "";
        _prefixIndex = 0;
        return rest;
    }
}
