namespace Copal.Model.Tokenization.Decoders;

/// <summary>
/// The tokenizer.json "decoder" section: HF's decode_chain, turning token strings into text pieces whose
/// concatenation is the decoded text.
/// </summary>
internal interface IDecoder
{
    List<string> DecodeChain(List<string> tokens);
}
