using System.Text.Json;
using Copal.Tensors.IO;

namespace Copal.Model.Tokenization;

/// <summary>
/// tokenizer.json read in one streaming pass. The model's vocab and merges (nearly all of a large file: 9 MB for
/// Llama-3) are kept as raw JSON byte ranges, read by the model when it is built; everything else is parsed into a
/// small <see cref="JsonDocument"/> in which they stand as {} and []. Building a full document of the whole file was
/// most of the time of a first encode.
/// </summary>
internal sealed class TokenizerJson
{
    private TokenizerJson(JsonSection root, ReadOnlyMemory<byte>? vocab, ReadOnlyMemory<byte>? merges)
    {
        Root = root;
        Vocab = vocab;
        Merges = merges;
    }

    /// <summary>The file without the model's vocab and merges (they read as {} and []).</summary>
    public JsonSection Root { get; }

    /// <summary>The JSON object of $.model.vocab, when it is an object.</summary>
    public ReadOnlyMemory<byte>? Vocab { get; }

    /// <summary>The JSON array of $.model.merges, when it is an array.</summary>
    public ReadOnlyMemory<byte>? Merges { get; }

    public static TokenizerJson Parse(byte[] bytes, string file)
    {
        (int Start, int End, string Placeholder)? vocab = null, merges = null;
        try
        {
            var reader = new Utf8JsonReader(bytes);
            if (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
            {
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    bool isModel = reader.ValueTextEquals("model"u8);
                    reader.Read();
                    if (!isModel || reader.TokenType != JsonTokenType.StartObject)
                    {
                        reader.Skip();
                        continue;
                    }
                    while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                    {
                        bool isVocab = reader.ValueTextEquals("vocab"u8);
                        bool isMerges = reader.ValueTextEquals("merges"u8);
                        reader.Read();
                        int start = (int)reader.TokenStartIndex;
                        JsonTokenType type = reader.TokenType;
                        reader.Skip();
                        int end = (int)reader.BytesConsumed;
                        if (isVocab && type == JsonTokenType.StartObject)
                        {
                            vocab = (start, end, "{}");
                        }
                        else if (isMerges && type == JsonTokenType.StartArray)
                        {
                            merges = (start, end, "[]");
                        }
                    }
                }
            }
            // Let the document parse report anything the pass above did not read (trailing content, a non-object root).
            while (reader.Read())
            {
            }
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"{file}: not valid JSON {JsonProblem.At(e)}", e);
        }
        byte[] rest = Without(bytes, vocab, merges);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(rest);
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"{file}: not valid JSON {JsonProblem.At(e)}", e);
        }
        return new TokenizerJson(new JsonSection(doc.RootElement, file, "$"),
            vocab is { } v ? bytes.AsMemory(v.Start, v.End - v.Start) : null,
            merges is { } m ? bytes.AsMemory(m.Start, m.End - m.Start) : null);
    }

    private static byte[] Without(byte[] bytes, params (int Start, int End, string Placeholder)?[] ranges)
    {
        var cut = ranges.Where(r => r is not null).Select(r => r!.Value).OrderBy(r => r.Start).ToArray();
        if (cut.Length == 0)
        {
            return bytes;
        }
        using var result = new MemoryStream(bytes.Length - cut.Sum(r => r.End - r.Start) + 8);
        int at = 0;
        foreach ((int start, int end, string placeholder) in cut)
        {
            result.Write(bytes, at, start - at);
            result.Write(System.Text.Encoding.ASCII.GetBytes(placeholder));
            at = end;
        }
        result.Write(bytes, at, bytes.Length - at);
        return result.ToArray();
    }
}
