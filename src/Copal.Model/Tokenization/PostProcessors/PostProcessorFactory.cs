using System.Text.Json;

namespace Copal.Model.Tokenization.PostProcessors;

/// <summary>Builds the post-processor from its tokenizer.json section.</summary>
internal static class PostProcessorFactory
{
    public const string Supported = "TemplateProcessing, ByteLevel, Sequence";

    public static TemplateProcessing Create(JsonSection s)
    {
        string type = s.Type;
        switch (type)
        {
            case "ByteLevel":
                return TemplateProcessing.None;
            case "Sequence":
                return s.Child("processors").Items().Select(Create).Aggregate(TemplateProcessing.None, (inner, next) => next.Around(inner));
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
                    specials[p.Name] = entry.Child("ids").Items().Select(i =>
                        i.Element.TryGetInt32(out int id) ? id : throw i.Error("expected an integer id")).ToArray();
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
}
