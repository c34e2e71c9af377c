using Copal.Model.Tokenization.Normalizers;

namespace Copal.Model.Tokenization.PreTokenizers;

/// <summary>Builds the pre-tokenizer from its tokenizer.json section.</summary>
internal static class PreTokenizerFactory
{
    public const string Supported = "ByteLevel, Split, Metaspace, Sequence";

    public static IPreTokenizer Create(JsonSection s)
    {
        string type = s.Type;
        switch (type)
        {
            case "ByteLevel":
                return new ByteLevelPreTokenizer(s.Bool("add_prefix_space", true), s.Bool("use_regex", true));
            case "Split":
            {
                (string? literal, CodePointRegex? regex) = NormalizerFactory.Pattern(s.Child("pattern"));
                string behavior = s.String("behavior");
                SplitBehavior b = behavior switch
                {
                    "Removed" => SplitBehavior.Removed,
                    "Isolated" => SplitBehavior.Isolated,
                    "MergedWithPrevious" => SplitBehavior.MergedWithPrevious,
                    "MergedWithNext" => SplitBehavior.MergedWithNext,
                    "Contiguous" => SplitBehavior.Contiguous,
                    _ => throw s.Error($"Split behavior '{behavior}' is unknown (expected Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)"),
                };
                return new SplitPreTokenizer(literal, regex, b, s.Bool("invert", false));
            }
            case "Metaspace":
            {
                PrependScheme scheme;
                if (s.Has("prepend_scheme"))
                {
                    string p = s.String("prepend_scheme");
                    scheme = p switch
                    {
                        "always" => PrependScheme.Always,
                        "first" => PrependScheme.First,
                        "never" => PrependScheme.Never,
                        _ => throw s.Error($"prepend_scheme '{p}' is unknown (expected always, first, never)"),
                    };
                }
                else
                {
                    // Older files: add_prefix_space true means "always".
                    scheme = s.Bool("add_prefix_space", true) ? PrependScheme.Always : PrependScheme.Never;
                }
                return new MetaspacePreTokenizer(s.Char("replacement", "\u2581"), scheme, s.Bool("split", true));
            }
            case "Sequence":
                return new SequencePreTokenizer(s.Child("pretokenizers").Items().Select(Create).ToArray());
            default:
                throw s.Error($"pre-tokenizer type '{type}' is not supported (supported: {Supported})");
        }
    }
}
