namespace Copal.Model.Tokenization.PreTokenizers;

/// <summary>What the tokenizer.json "pre_tokenizer" section asks for, in the shapes Copal runs.</summary>
internal abstract record PreTokenizerSpec;

/// <summary>
/// Byte-level BPE input: split by <paramref name="Split"/> (null: the whole piece is one word), then the UTF-8 bytes
/// in GPT-2's byte alphabet. Served by Microsoft.ML.Tokenizers' BpeTokenizer with ByteLevel on.
/// </summary>
internal sealed record ByteLevelSpec(RegexSplitPreTokenizer? Split, bool AddPrefixSpace) : PreTokenizerSpec;

/// <summary>SentencePiece-style input: spaces to "▁" (see <see cref="MetaspacePreTokenizer"/>).</summary>
internal sealed record MetaspaceSpec(MetaspacePreTokenizer PreTokenizer) : PreTokenizerSpec;

/// <summary>Reads the pre-tokenizer section.</summary>
internal static class PreTokenizerFactory
{
    public const string Supported = "ByteLevel, Split, Metaspace, Sequence";

    private const string SupportedSequences =
        "supported: ByteLevel; Sequence [Split (Regex, Isolated), ByteLevel (use_regex false, add_prefix_space false)]; Metaspace";

    public static PreTokenizerSpec Create(JsonSection s)
    {
        string type = s.Type;
        switch (type)
        {
            case "ByteLevel":
                return new ByteLevelSpec(
                    s.Bool("use_regex", true) ? new RegexSplitPreTokenizer(new CodePointRegex(CodePointRegex.Gpt2Pattern, "ByteLevel")) : null,
                    s.Bool("add_prefix_space", true));
            case "Metaspace":
                return new MetaspaceSpec(CreateMetaspace(s));
            case "Split":
                throw s.Error($"a Split pre-tokenizer is supported only in a Sequence before ByteLevel ({SupportedSequences})");
            case "Sequence":
            {
                JsonSection[] steps = s.Child("pretokenizers").Items().ToArray();
                if (steps.Length == 1)
                {
                    return Create(steps[0]);
                }
                if (steps.Length == 2 && steps[0].Type == "Split" && steps[1].Type == "ByteLevel")
                {
                    JsonSection byteLevel = steps[1];
                    if (byteLevel.Bool("use_regex", true) || byteLevel.Bool("add_prefix_space", true))
                    {
                        throw byteLevel.Error($"ByteLevel after Split must have use_regex false and add_prefix_space false ({SupportedSequences})");
                    }
                    return new ByteLevelSpec(CreateSplit(steps[0]), AddPrefixSpace: false);
                }
                string kinds = string.Join(", ", steps.Select(x => x.Type));
                foreach (JsonSection step in steps)
                {
                    if (step.Type is not ("ByteLevel" or "Split" or "Metaspace" or "Sequence"))
                    {
                        throw step.Error($"pre-tokenizer type '{step.Type}' is not supported (supported: {Supported})");
                    }
                }
                throw s.Error($"pre-tokenizer Sequence [{kinds}] is not supported ({SupportedSequences})");
            }
            default:
                throw s.Error($"pre-tokenizer type '{type}' is not supported (supported: {Supported})");
        }
    }

    private static RegexSplitPreTokenizer CreateSplit(JsonSection s)
    {
        string behavior = s.String("behavior");
        if (behavior != "Isolated")
        {
            string known = behavior is "Removed" or "MergedWithPrevious" or "MergedWithNext" or "Contiguous" ? "is not supported" : "is unknown";
            throw s.Error($"Split behavior '{behavior}' {known} (supported: Isolated)");
        }
        if (s.Bool("invert", false))
        {
            throw s.Error("Split with invert true is not supported; expected false");
        }
        JsonSection pattern = s.Child("pattern");
        if (!pattern.Has("Regex"))
        {
            throw pattern.Error("Split with a String pattern is not supported; expected {\"Regex\": …}");
        }
        return new RegexSplitPreTokenizer(new CodePointRegex(pattern.String("Regex"), $"{pattern.File}: {pattern.Path}"));
    }

    private static MetaspacePreTokenizer CreateMetaspace(JsonSection s)
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
}
