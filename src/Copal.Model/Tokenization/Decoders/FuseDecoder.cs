namespace Copal.Model.Tokenization.Decoders;

/// <summary>HF "Fuse" decoder: joins all tokens into one.</summary>
internal sealed class FuseDecoder : IDecoder
{
    public List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
}
