using System.Text.Json;

namespace Copal.Model.Tokenization.PostProcessors;

/// <summary>Builds the post-processor from its tokenizer.json section.</summary>
internal static class PostProcessorFactory
{
    public const string Supported = "TemplateProcessing, ByteLevel, Sequence";

    public static IPostProcessor Create(JsonSection s)
    {
        string type = s.Type;
        switch (type)
        {
            case "ByteLevel":
                return new IdentityPostProcessor();
            case "Sequence":
                return new SequencePostProcessor(s.Child("processors").Items().Select(Create).ToArray());
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
                var single = new List<int[]?>();
                foreach (JsonSection item in s.Child("single").Items())
                {
                    if (item.Has("SpecialToken"))
                    {
                        string id = item.Child("SpecialToken").String("id");
                        single.Add(specials.TryGetValue(id, out int[]? ids) ? ids
                            : throw item.Error($"special token \"{id}\" is not in special_tokens"));
                    }
                    else if (item.Has("Sequence"))
                    {
                        string seq = item.Child("Sequence").String("id");
                        if (seq != "A")
                        {
                            throw item.Error($"single template refers to sequence ${seq}; expected $A");
                        }
                        single.Add(null);
                    }
                    else
                    {
                        throw item.Error("template item must be SpecialToken or Sequence");
                    }
                }
                return new TemplateProcessing(single);
            }
            default:
                throw s.Error($"post-processor type '{type}' is not supported (supported: {Supported})");
        }
    }
}
