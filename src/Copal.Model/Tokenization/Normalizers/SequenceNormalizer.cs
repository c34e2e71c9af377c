using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Normalizers;

/// <summary>Applies normalizers in order.</summary>
internal sealed class SequenceNormalizer(IReadOnlyList<Normalizer> normalizers) : Normalizer
{
    public IReadOnlyList<Normalizer> Normalizers => normalizers;

    public override string Normalize(string original)
    {
        for (int i = 0; i < normalizers.Count; i++)
        {
            // Llama-2's and Mistral's pair, a prepend and then a char-for-char replace, writes one copy of the text
            // in one pass rather than one copy each (a calibration file's text, twice over). Both have the same
            // result: no match of a one-char literal spans the prepended string and the text.
            if (original.Length > 0 && normalizers[i] is PrependNormalizer prepend
                && i + 1 < normalizers.Count && normalizers[i + 1] is ReplaceNormalizer { IsCharForChar: true } replace)
            {
                original = PrependReplacing(prepend.Prepend, original, replace);
                i++;
                continue;
            }
            original = normalizers[i].Normalize(original);
        }
        return original;
    }

    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());

    private static string PrependReplacing(string prefix, string text, ReplaceNormalizer replace) =>
        string.Create(prefix.Length + text.Length, (prefix, text, replace), static (span, s) =>
        {
            s.replace.CopyReplacingChar(s.prefix, span[..s.prefix.Length]);
            s.replace.CopyReplacingChar(s.text, span[s.prefix.Length..]);
        });
}
