using System.Text;

namespace Copal.Model.Tokenization.Normalizers;

/// <summary>NFC / NFD / NFKC / NFKD (Qwen2/3 use NFC).</summary>
internal sealed class UnicodeNormalizer(NormalizationForm form) : INormalizer
{
    public string Normalize(string text) => text.IsNormalized(form) ? text : text.Normalize(form);
}
