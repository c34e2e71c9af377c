using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Normalizers;

/// <summary>Prepends a string (Llama's "▁"); like HF, an empty piece stays empty.</summary>
internal sealed class PrependNormalizer(string prepend) : Normalizer
{
    public string Prepend => prepend;

    public override string Normalize(string original) => original.Length == 0 ? original : prepend + original;

    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
}
