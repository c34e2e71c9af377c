using System.Text;

namespace Copal.Model.Tokenization.Normalizers;

/// <summary>NFC / NFD / NFKC / NFKD (Qwen2/3 use NFC), on Copal's own tables (see <see cref="UnicodeNormalization"/>).</summary>
internal sealed class UnicodeNormalizer(NormalizationForm form) : INormalizer
{
    public string Normalize(string text) => UnicodeNormalization.Normalize(text, form);
}
