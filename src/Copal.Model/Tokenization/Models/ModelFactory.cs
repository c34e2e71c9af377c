using System.Text.Json;

namespace Copal.Model.Tokenization.Models;

/// <summary>The tokenizer.json "model" section of a BPE model, read but not yet built.</summary>
internal sealed record BpeModelSection(JsonSection Section, Dictionary<string, int> Vocab, string?[] IdToToken, string? UnkToken,
    int? UnkId, bool FuseUnk, bool ByteFallback, bool IgnoreMerges, ReadOnlyMemory<byte> MergesJson);

/// <summary>Reads the tokenizer.json "model" section and builds the model it describes.</summary>
internal static class ModelFactory
{
    public const string Supported = "BPE (without dropout, without continuing_subword_prefix / end_of_word_suffix)";

    public static BpeModelSection Read(JsonSection s, TokenizerJson file)
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
        var reader = new Utf8JsonReader(file.Vocab is { } vocabJson ? vocabJson.Span : "{}"u8);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            string token = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out int id) || id < 0)
            {
                string value = reader.TokenType == JsonTokenType.String ? $"\"{reader.GetString()}\""
                    : System.Text.Encoding.UTF8.GetString(reader.ValueSpan);
                throw vocabSection.Error($"token \"{token}\" has id {value}, expected a non-negative integer");
            }
            if (id > TokenIds.Max)
            {
                throw vocabSection.Error(TokenIds.TooLarge(token, id));
            }
            vocab[token] = id;
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
        JsonSection merges = s.Child("merges");
        if (merges.Element.ValueKind != JsonValueKind.Array)
        {
            throw merges.Error($"expected an array of merges, found {merges.Element.ValueKind}");
        }
        string? unk = s.OptionalString("unk_token");
        int? unkId = null;
        if (unk is not null)
        {
            unkId = vocab.TryGetValue(unk, out int u) ? u : throw s.Error($"unk_token \"{unk}\" is not in the vocab");
        }
        return new BpeModelSection(s, vocab, idToToken, unk, unkId, s.Bool("fuse_unk", false), s.Bool("byte_fallback", false),
            s.Bool("ignore_merges", false), file.Merges ?? "[]"u8.ToArray());
    }

    /// <summary>Copal's SentencePiece-style model (byte fallback), built now.</summary>
    public static SentencePieceBpeTokenizer CreateSentencePiece(BpeModelSection m)
    {
        var merges = new Dictionary<long, SentencePieceBpeTokenizer.Merge>();
        ReadMerges(m, (rank, a, b, ia, ib, merged) =>
            // A repeated pair takes its last rank: HF collects the merges into a map, so later entries overwrite.
            merges[SentencePieceBpeTokenizer.Key(ia, ib)] = new SentencePieceBpeTokenizer.Merge(rank, merged));
        return new SentencePieceBpeTokenizer(m.Vocab, m.IdToToken, merges, m.UnkId, m.FuseUnk, m.ByteFallback, m.IgnoreMerges);
    }

    /// <summary>Where the merges cannot join a word's bytes (see <see cref="MergeCrossings"/>).</summary>
    public static MergeCrossings CreateCrossings(BpeModelSection m)
    {
        var crossings = new MergeCrossings();
        ReadMerges(m, (rank, a, b, ia, ib, merged) => crossings.Add(a, b));
        crossings.AddUnknownBytes([.. Enumerable.Range(0, 256).Where(b => !m.Vocab.ContainsKey(PreTokenizers.ByteLevelAlphabet.ByteToChar[b].ToString()))],
            hasUnk: m.UnkId is not null, m.FuseUnk);
        return crossings;
    }

    /// <summary>The merges as "a b" strings, the form Microsoft.ML.Tokenizers' BpeOptions takes, checked against the vocab.</summary>
    public static List<string> MergeStrings(BpeModelSection m)
    {
        var list = new List<string>(m.MergesJson.Length / 12);
        ReadMerges(m, (rank, a, b, ia, ib, merged) =>
        {
            if (a.Contains(' ', StringComparison.Ordinal) || b.Contains(' ', StringComparison.Ordinal))
            {
                throw m.Section.Child("merges").Error($"merge {rank} (\"{a}\" + \"{b}\") holds a space, which byte-level BPE cannot express");
            }
            list.Add(string.Concat(a, " ", b));
        });
        return list;
    }

    private delegate void MergeSink(int rank, string a, string b, int idA, int idB, int merged);

    /// <summary>Merges as "a b" strings (older files) or ["a", "b"] arrays (newer files); rank = position.</summary>
    private static void ReadMerges(BpeModelSection m, MergeSink sink)
    {
        JsonSection section = m.Section.Child("merges");
        Dictionary<string, int> vocab = m.Vocab;
        var lookup = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> joined = stackalloc char[256];
        int rank = 0;
        var reader = new Utf8JsonReader(m.MergesJson.Span);
        reader.Read();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            string a, b;
            if (reader.TokenType == JsonTokenType.String)
            {
                string line = reader.GetString()!;
                int space = line.IndexOf(' ', StringComparison.Ordinal);
                if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
                {
                    throw section.Error($"merge {rank} \"{line}\" must be two tokens separated by one space");
                }
                a = line[..space];
                b = line[(space + 1)..];
            }
            else if (reader.TokenType == JsonTokenType.StartArray
                     && reader.Read() && reader.TokenType == JsonTokenType.String && reader.GetString() is { } left
                     && reader.Read() && reader.TokenType == JsonTokenType.String && reader.GetString() is { } right
                     && reader.Read() && reader.TokenType == JsonTokenType.EndArray)
            {
                a = left;
                b = right;
            }
            else
            {
                throw section.Error($"merge {rank} is not \"a b\" or [\"a\", \"b\"] (found {reader.TokenType} inside it); expected one of those");
            }
            if (!vocab.TryGetValue(a, out int ia) || !vocab.TryGetValue(b, out int ib))
            {
                string missing = vocab.ContainsKey(a) ? b : a;
                throw section.Error($"merge {rank} (\"{a}\" + \"{b}\") refers to \"{missing}\", which is not in the vocab");
            }
            int merged;
            if (a.Length + b.Length <= joined.Length)
            {
                a.CopyTo(joined);
                b.CopyTo(joined[a.Length..]);
                if (!lookup.TryGetValue(joined[..(a.Length + b.Length)], out merged))
                {
                    merged = -1;
                }
            }
            else if (!vocab.TryGetValue(a + b, out merged))
            {
                merged = -1;
            }
            if (merged < 0)
            {
                throw section.Error($"merge {rank} (\"{a}\" + \"{b}\") yields \"{a + b}\", which is not in the vocab");
            }
            sink(rank, a, b, ia, ib, merged);
            rank++;
        }
    }
}
