using System.Text.Json;

namespace Copal.Model.Tokenization.Models;

/// <summary>Builds the BPE model from the tokenizer.json "model" section.</summary>
internal static class BpeModelFactory
{
    public const string Supported = "BPE (without dropout, without continuing_subword_prefix / end_of_word_suffix)";

    public static BpeModel Create(JsonSection s)
    {
        string type = s.Has("type") ? s.Type : "BPE";
        if (type != "BPE")
        {
            throw s.Error($"model type '{type}' is not supported (supported: {Supported})");
        }
        if (s.Has("dropout"))
        {
            throw s.Error($"BPE dropout {s.Element.GetProperty("dropout")} is not supported: it makes tokenization random; expected null");
        }
        foreach (string affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            string? v = s.OptionalString(affix);
            if (!string.IsNullOrEmpty(v))
            {
                throw s.Error($"BPE {affix} \"{v}\" is not supported; expected null or \"\"");
            }
        }

        JsonSection vocabSection = s.Child("vocab");
        if (vocabSection.Element.ValueKind != JsonValueKind.Object)
        {
            throw vocabSection.Error($"expected an object of token → id, found {vocabSection.Element.ValueKind}");
        }
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        int maxId = -1;
        foreach (JsonProperty p in vocabSection.Element.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0)
            {
                throw vocabSection.Error($"token \"{p.Name}\" has id {p.Value}, expected a non-negative integer");
            }
            vocab[p.Name] = id;
            maxId = Math.Max(maxId, id);
        }
        var idToToken = new string?[maxId + 1];
        foreach ((string token, int id) in vocab)
        {
            if (idToToken[id] is not null)
            {
                throw vocabSection.Error($"id {id} is given to both \"{idToToken[id]}\" and \"{token}\"");
            }
            idToToken[id] = token;
        }

        var merges = ReadMerges(s.Child("merges"), vocab);
        string? unk = s.OptionalString("unk_token");
        int? unkId = null;
        if (unk is not null)
        {
            unkId = vocab.TryGetValue(unk, out int u) ? u
                : throw s.Error($"unk_token \"{unk}\" is not in the vocab");
        }
        return new BpeModel(vocab, idToToken, merges, unkId, s.Bool("fuse_unk", false), s.Bool("byte_fallback", false),
            s.Bool("ignore_merges", false));
    }

    /// <summary>Merges as "a b" strings (older files) or ["a", "b"] arrays (newer files); rank = position.</summary>
    private static Dictionary<long, BpeModel.Merge> ReadMerges(JsonSection section, Dictionary<string, int> vocab)
    {
        if (section.Element.ValueKind != JsonValueKind.Array)
        {
            throw section.Error($"expected an array of merges, found {section.Element.ValueKind}");
        }
        var merges = new Dictionary<long, BpeModel.Merge>(section.Element.GetArrayLength());
        int rank = 0;
        foreach (JsonElement m in section.Element.EnumerateArray())
        {
            string a, b;
            if (m.ValueKind == JsonValueKind.String)
            {
                string line = m.GetString()!;
                int space = line.IndexOf(' ', StringComparison.Ordinal);
                if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
                {
                    throw section.Error($"merge {rank} \"{line}\" must be two tokens separated by one space");
                }
                a = line[..space];
                b = line[(space + 1)..];
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
                     && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            {
                a = m[0].GetString()!;
                b = m[1].GetString()!;
            }
            else
            {
                throw section.Error($"merge {rank} is {m}; expected \"a b\" or [\"a\", \"b\"]");
            }
            if (!vocab.TryGetValue(a, out int ia) || !vocab.TryGetValue(b, out int ib))
            {
                string missing = vocab.ContainsKey(a) ? b : a;
                throw section.Error($"merge {rank} (\"{a}\" + \"{b}\") refers to \"{missing}\", which is not in the vocab");
            }
            if (!vocab.TryGetValue(a + b, out int merged))
            {
                throw section.Error($"merge {rank} (\"{a}\" + \"{b}\") yields \"{a + b}\", which is not in the vocab");
            }
            // A repeated pair takes its last rank: HF collects the merges into a map, so later entries overwrite.
            merges[BpeModel.Key(ia, ib)] = new BpeModel.Merge(rank, merged);
            rank++;
        }
        return merges;
    }
}
