using Copal.Model.Tokenization.Normalizers;

namespace Copal.Model.Tokenization.Decoders;

/// <summary>Builds the decoder from its tokenizer.json section.</summary>
internal static class DecoderFactory
{
    public const string Supported = "ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence";

    public static IDecoder Create(JsonSection s)
    {
        string type = s.Type;
        switch (type)
        {
            case "ByteLevel":
                return new ByteLevelDecoder();
            case "ByteFallback":
                return new ByteFallbackDecoder();
            case "Fuse":
                return new FuseDecoder();
            case "Sequence":
                return new SequenceDecoder(s.Child("decoders").Items().Select(Create).ToArray());
            case "Replace":
            {
                (string? literal, CodePointRegex? regex) = NormalizerFactory.Pattern(s.Child("pattern"));
                return new ReplaceDecoder(literal, regex, s.String("content"));
            }
            case "Strip":
            {
                string content = s.Char("content", " ");
                if (content.Length != 1)
                {
                    throw s.Error($"Strip content must be a BMP char, found \"{content}\"");
                }
                return new StripDecoder(content[0], s.Int("start", 0), s.Int("stop", 0));
            }
            case "Metaspace":
            {
                bool strip = s.Has("prepend_scheme") ? s.String("prepend_scheme") != "never" : s.Bool("add_prefix_space", true);
                return new MetaspaceDecoder(s.Char("replacement", "\u2581"), strip);
            }
            default:
                throw s.Error($"decoder type '{type}' is not supported (supported: {Supported})");
        }
    }
}
