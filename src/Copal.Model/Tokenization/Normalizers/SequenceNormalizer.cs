using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Normalizers;

/// <summary>Applies normalizers in order.</summary>
internal sealed class SequenceNormalizer(IReadOnlyList<Normalizer> normalizers) : Normalizer
{
    public IReadOnlyList<Normalizer> Normalizers => normalizers;

    public override string Normalize(string original)
    {
        foreach (Normalizer n in normalizers)
        {
            original = n.Normalize(original);
        }
        return original;
    }

    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
}
