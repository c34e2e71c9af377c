namespace Copal.Model.Tokenization.Normalizers;

/// <summary>Applies normalizers in order.</summary>
internal sealed class SequenceNormalizer(IReadOnlyList<INormalizer> normalizers) : INormalizer
{
    public string Normalize(string text)
    {
        foreach (INormalizer n in normalizers)
        {
            text = n.Normalize(text);
        }
        return text;
    }
}
