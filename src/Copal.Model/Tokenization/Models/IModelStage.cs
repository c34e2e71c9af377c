using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Models;

/// <summary>
/// The pre-tokenizer and model stages of a tokenizer.json pipeline: they turn one normalized piece of text (between
/// added tokens) into ids. <see cref="Model"/> is the model as a Microsoft.ML.Tokenizers <see cref="Tokenizer"/>.
/// </summary>
internal interface IModelStage
{
    /// <summary>The model: Microsoft.ML.Tokenizers' BpeTokenizer (byte-level) or Copal's SentencePiece BPE.</summary>
    Tokenizer Model { get; }

    /// <summary>Model tokens by id (null where the vocab has a gap).</summary>
    string?[] IdToToken { get; }

    int? UnkId { get; }

    /// <summary>
    /// Whether characters may come out as no token of their own: one the model cannot spell is dropped (no unk token)
    /// or fused with its unknown neighbours into one unk (fuse_unk), where no byte fallback spells it first. No bound
    /// by the text's bytes holds then (<see cref="CopalTokenizer.MinTokenCount"/>).
    /// </summary>
    bool MayMergeUnknownText { get; }

    int? TokenToId(string token);

    /// <summary>
    /// Appends the ids of text[start..start+length]. <paramref name="atStart"/>: the piece begins the input;
    /// <paramref name="preTokenize"/>: false treats the piece as one word. <paramref name="watch"/>, when given, hears
    /// each word's offset in text before the word is encoded (it checks cancellation and reports progress).
    /// </summary>
    void EncodeIds(string text, int start, int length, bool atStart, bool preTokenize, List<int> ids, EncodeWatch? watch = null);

    /// <summary>As <see cref="EncodeIds"/>, with offsets in text plus <paramref name="offset"/>.</summary>
    void EncodeTokens(string text, int start, int length, bool atStart, bool preTokenize, int offset, List<EncodedToken> tokens);
}
