namespace Copal.Model.Tokenization.Decoders;

/// <summary>Applies decoders in order, each to the output of the previous one.</summary>
internal sealed class SequenceDecoder(IReadOnlyList<IDecoder> steps) : IDecoder
{
    public List<string> DecodeChain(List<string> tokens)
    {
        foreach (IDecoder d in steps)
        {
            tokens = d.DecodeChain(tokens);
        }
        return tokens;
    }
}
