namespace Copal.Model.Tokenization.PreTokenizers;

/// <summary>Applies pre-tokenizers in order, each to every piece the previous one produced.</summary>
internal sealed class SequencePreTokenizer(IReadOnlyList<IPreTokenizer> steps) : IPreTokenizer
{
    public void PreTokenize(Piece piece, List<Piece> output)
    {
        var current = new List<Piece> { piece };
        var next = new List<Piece>();
        foreach (IPreTokenizer step in steps)
        {
            next.Clear();
            foreach (Piece p in current)
            {
                step.PreTokenize(p, next);
            }
            (current, next) = (next, current);
        }
        output.AddRange(current);
    }
}
