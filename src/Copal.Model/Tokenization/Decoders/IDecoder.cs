namespace Copal.Model.Tokenization.Decoders;

/// <summary>
/// The tokenizer.json "decoder" section: HF's decode_chain, turning token strings into text pieces whose
/// concatenation is the decoded text.
/// </summary>
internal interface IDecoder
{
    List<string> DecodeChain(List<string> tokens);

    /// <summary>
    /// One token's text as a piece of a longer text: the chain without what acts only at a text's start (Strip,
    /// Metaspace's first space), so a SentencePiece word keeps its leading space.
    /// </summary>
    string Piece(string token) => string.Concat(DecodeChain([token]));

    /// <summary>The bytes of a token this decoder turns into bytes (byte fallback's &lt;0xNN&gt;, byte-level's alphabet); null for others.</summary>
    byte[]? Bytes(string token) => null;
}
