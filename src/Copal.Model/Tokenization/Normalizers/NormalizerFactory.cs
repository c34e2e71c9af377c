using System.Text;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Normalizers;

/// <summary>Builds the normalizer from its tokenizer.json section.</summary>
internal static class NormalizerFactory
{
    public const string Supported = "NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence";

    public static Normalizer Create(JsonSection s)
    {
        string type = s.Type;
        return type switch
        {
            "NFC" => new UnicodeNormalizer(NormalizationForm.FormC),
            "NFD" => new UnicodeNormalizer(NormalizationForm.FormD),
            "NFKC" => new UnicodeNormalizer(NormalizationForm.FormKC),
            "NFKD" => new UnicodeNormalizer(NormalizationForm.FormKD),
            "Prepend" => new PrependNormalizer(s.String("prepend")),
            "Replace" => CreateReplace(s),
            "Sequence" => new SequenceNormalizer(s.Child("normalizers").Items().Select(Create).ToArray()),
            _ => throw s.Error($"normalizer type '{type}' is not supported (supported: {Supported})"),
        };
    }

    private static ReplaceNormalizer CreateReplace(JsonSection s)
    {
        (string? literal, CodePointRegex? regex) = Pattern(s.Child("pattern"));
        return new ReplaceNormalizer(literal, regex, s.String("content"));
    }

    /// <summary>A {"String": …} or {"Regex": …} pattern.</summary>
    internal static (string? Literal, CodePointRegex? Regex) Pattern(JsonSection p)
    {
        if (p.Has("String"))
        {
            return (p.String("String"), null);
        }
        if (p.Has("Regex"))
        {
            return (null, new CodePointRegex(p.String("Regex"), $"{p.File}: {p.Path}"));
        }
        throw p.Error("pattern must be {\"String\": …} or {\"Regex\": …}");
    }
}
