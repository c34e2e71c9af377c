using Copal.Model.Tokenization.PreTokenizers;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Models;

/// <summary>
/// SentencePiece-style BPE (Llama-2, Mistral, TinyLlama, stories260K): an optional Metaspace pre-tokenizer, then
/// Copal's <see cref="SentencePieceBpeTokenizer"/> (byte fallback, which Microsoft.ML.Tokenizers' BPE lacks).
/// </summary>
internal sealed class SentencePieceStage(SentencePieceBpeTokenizer model, MetaspacePreTokenizer? metaspace) : IModelStage
{
    public Tokenizer Model => model;

    public SentencePieceBpeTokenizer Bpe => model;

    public string?[] IdToToken => model.IdToTokenTable;

    public int? UnkId => model.UnkId;

    public bool MayMergeUnknownText => model.MayMergeUnknownText;

    public int? TokenToId(string token) => model.TokenToId(token);

    public void EncodeIds(string text, int start, int length, bool atStart, bool preTokenize, List<int> ids, EncodeWatch? watch = null)
    {
        if (metaspace is null || !preTokenize)
        {
            model.EncodeIds(text.AsSpan(start, length), ids, watch, start);
            return;
        }
        var words = new List<(int Start, int Length)>();
        string rewritten = metaspace.Apply(text.Substring(start, length), atStart, words, out int prepended);
        foreach ((int s, int n) in words)
        {
            // The replacement is one char per space, so only the prepended "▁" moves offsets. The watch goes into the
            // word: with split false the word is the whole piece (a file without added tokens), cut at "▁" only there.
            model.EncodeIds(rewritten.AsSpan(s, n), ids, watch, start + s - prepended);
        }
    }

    public void EncodeTokens(string text, int start, int length, bool atStart, bool preTokenize, int offset, List<EncodedToken> tokens)
    {
        if (metaspace is null || !preTokenize)
        {
            model.EncodeTokens(text.AsSpan(start, length), offset + start, tokens);
            return;
        }
        var words = new List<(int Start, int Length)>();
        string rewritten = metaspace.Apply(text.Substring(start, length), atStart, words, out int prepended);
        var found = new List<EncodedToken>();
        foreach ((int s, int n) in words)
        {
            model.EncodeTokens(rewritten.AsSpan(s, n), s, found);
        }
        // The replacement is one char per space, so only the prepended "▁" moves offsets.
        foreach (EncodedToken t in found)
        {
            int from = Math.Max(0, t.Offset.Start.Value - prepended) + offset + start;
            int to = Math.Max(0, t.Offset.End.Value - prepended) + offset + start;
            tokens.Add(new EncodedToken(t.Id, t.Value, new Range(from, Math.Max(from, to))));
        }
    }
}
