using System.Text.Json;

namespace Copal.Model.Tokenization.PostProcessors;

/// <summary>Builds the post-processor from its tokenizer.json section.</summary>
internal static class PostProcessorFactory
{
    public const string Supported = "TemplateProcessing, ByteLevel, Sequence";

    /// <summary>
    /// The post-processor of section <paramref name="s"/>. Its special ids are placed around every encoded text as
    /// they are, so each must be a token of this tokenizer (<paramref name="isToken"/>; ids 0..<paramref name="idCount"/> − 1):
    /// one outside it reached the model as an id the embedding has no row for.
    /// </summary>
    public static TemplateProcessing Create(JsonSection s, Func<int, bool> isToken, int idCount)
    {
        string type = s.Type;
        switch (type)
        {
            case "ByteLevel":
                return TemplateProcessing.None;
            case "Sequence":
                return s.Child("processors").Items().Select(p => Create(p, isToken, idCount)).Aggregate(TemplateProcessing.None, (inner, next) => next.Around(inner));
            case "TemplateProcessing":
            {
                var specials = new Dictionary<string, int[]>(StringComparer.Ordinal);
                JsonSection map = s.Child("special_tokens");
                if (map.Element.ValueKind != JsonValueKind.Object)
                {
                    throw map.Error("expected an object");
                }
                foreach (JsonProperty p in map.Element.EnumerateObject())
                {
                    var entry = new JsonSection(p.Value, s.File, $"{map.Path}.{p.Name}");
                    specials[p.Name] = entry.Child("ids").Items().Select(i => TokenId(i, isToken, idCount)).ToArray();
                }
                var prefix = new List<int>();
                var suffix = new List<int>();
                bool seenSequence = false;
                foreach (JsonSection item in s.Child("single").Items())
                {
                    if (item.Has("SpecialToken"))
                    {
                        string id = item.Child("SpecialToken").String("id");
                        (seenSequence ? suffix : prefix).AddRange(specials.TryGetValue(id, out int[]? ids) ? ids
                            : throw item.Error($"special token \"{id}\" is not in special_tokens"));
                    }
                    else if (item.Has("Sequence"))
                    {
                        string seq = item.Child("Sequence").String("id");
                        if (seq != "A" || seenSequence)
                        {
                            throw item.Error($"single template refers to sequence ${seq} {(seenSequence ? "twice" : "")}; expected $A once");
                        }
                        seenSequence = true;
                    }
                    else
                    {
                        throw item.Error("template item must be SpecialToken or Sequence");
                    }
                }
                if (!seenSequence)
                {
                    throw s.Error("single template has no $A; expected $A once");
                }
                return new TemplateProcessing([.. prefix], [.. suffix]);
            }
            default:
                throw s.Error($"post-processor type '{type}' is not supported (supported: {Supported})");
        }
    }

    private static int TokenId(JsonSection item, Func<int, bool> isToken, int idCount)
    {
        if (!item.Element.TryGetInt32(out int id))
        {
            throw item.Error("expected an integer id");
        }
        return isToken(id) ? id
            : throw item.Error(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"id {id} is not a token of this tokenizer (ids 0..{idCount - 1})"));
    }
}
