namespace Copal.Model.Tokenization.Normalizers;

/// <summary>The tokenizer.json "normalizer" section: rewrites text before pre-tokenization.</summary>
internal interface INormalizer
{
    string Normalize(string text);
}
