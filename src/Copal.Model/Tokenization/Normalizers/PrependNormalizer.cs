namespace Copal.Model.Tokenization.Normalizers;

/// <summary>Prepends a string (Llama's "▁"); like HF, an empty piece stays empty.</summary>
internal sealed class PrependNormalizer(string prepend) : INormalizer
{
    public string Normalize(string text) => text.Length == 0 ? text : prepend + text;
}
