using System.Text;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Normalizers;

/// <summary>NFC / NFD / NFKC / NFKD (Qwen2/3 use NFC), on Copal's own tables (see <see cref="UnicodeNormalization"/>).</summary>
internal sealed class UnicodeNormalizer(NormalizationForm form) : Normalizer
{
    public override string Normalize(string original) => UnicodeNormalization.Normalize(original, form);

    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());
}
