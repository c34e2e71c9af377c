using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Normalizers;

/// <summary>
/// How much a normalizer may shorten text, for <see cref="CopalTokenizer.MinTokenCount"/>'s bound by the text's bytes.
/// The Unicode forms shorten a character's UTF-8 at most from 4 bytes to 1 (NFKC's fullwidth letters: 3 to 1), which
/// the bound's margin of 4 covers; Prepend only lengthens. A Replace may delete text outright, past any margin.
/// </summary>
internal static class NormalizerShortening
{
    /// <summary>Whether <paramref name="normalizer"/> may shorten text more than fourfold (no byte bound holds then).</summary>
    public static bool MayShortenWithoutBound(Normalizer? normalizer) => normalizer switch
    {
        ReplaceNormalizer replace => replace.MayShorten,
        SequenceNormalizer sequence => sequence.Normalizers.Any(MayShortenWithoutBound),
        _ => false,
    };
}
