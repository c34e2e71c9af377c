using System.Text;
using System.Text.Json;

namespace Copal.Cli.Serving;

/// <summary>
/// A request body's top-level field of token ids (completions' prompt, /detokenize's tokens), kept as the body's own
/// bytes and read by a streaming reader when its handler asks, never as part of the body's document: System.Text.Json's
/// document takes 12 bytes a JSON token, in a pooled array doubled as it fills, so a 30 MB body of 7.5 million one-token
/// prompts (22 million JSON tokens) peaked at 0.85 GB for the 400 its count gets. Here it costs its ids, and only once
/// the handler's checks get to them: a count past the bound is refused before any is read.
/// <para>
/// Only a field that holds no text is taken apart: an array of numbers, or an array of arrays of numbers, given once.
/// Anything else (a string, a mix, an object, a field given twice) stays in the document, where the checks read it
/// as before; so does the whole body when it is not valid JSON, whose error then names the same place. Every check
/// of these ids answers as its check of the document's array does, word for word (the differential in the report).
/// </para>
/// </summary>
internal sealed class TokenIdArrays
{
    /// <summary>What the document holds in the field's place: a non-empty array, as the field was.</summary>
    private static readonly byte[] Placeholder = "[0]"u8.ToArray();

    // System.Text.Json's document reads with these same settings (OpenAiRequests.ParseBody's), so a body this reader
    // takes, the document takes.
    private static readonly JsonReaderOptions s_reader = new() { MaxDepth = OpenAiRequests.MaxDepth };

    /// <summary>The field's array, '[' to ']', in the body's bytes.</summary>
    private readonly ReadOnlyMemory<byte> _array;

    private TokenIdArrays(ReadOnlyMemory<byte> array, bool nested, int count)
    {
        _array = array;
        Nested = nested;
        Count = count;
    }

    /// <summary>Whether the field is an array of arrays of numbers (several prompts), not an array of numbers (one).</summary>
    public bool Nested { get; }

    /// <summary>The array's items: numbers, or arrays of numbers when <see cref="Nested"/>; at least one.</summary>
    public int Count { get; }

    /// <summary>
    /// <paramref name="json"/> with the top-level field <paramref name="field"/> taken apart as token ids and an
    /// array in its place, or <paramref name="json"/> itself and null where the field stays in the document. An array
    /// of arrays is taken apart only where the field may hold several prompts (<paramref name="nestedAllowed"/>).
    /// </summary>
    public static (ReadOnlyMemory<byte> Json, TokenIdArrays? Ids) Split(ReadOnlyMemory<byte> json, string field, bool nestedAllowed)
    {
        try
        {
            return Find(json.Span, field) is (int start, int end, bool nested, int count) && (nestedAllowed || !nested)
                ? (Splice(json.Span, start, end), new TokenIdArrays(json[start..end], nested, count))
                : (json, null);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Not valid JSON (or a name the reader cannot compare): the document's parse says where, as it always has.
            return (json, null);
        }
    }

    /// <summary>Where the field's array is, its shape and length; null where the field is to stay in the document.</summary>
    private static (int Start, int End, bool Nested, int Count)? Find(ReadOnlySpan<byte> json, string field)
    {
        var reader = new Utf8JsonReader(json, s_reader);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return null;
        }
        (int Start, int End, bool Nested, int Count)? found = null;
        bool named = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            // Compared unescaped, as the document's lookup of the name compares it.
            bool isField = reader.ValueTextEquals(field);
            reader.Read();
            if (!isField)
            {
                reader.Skip();
                continue;
            }
            if (named)
            {
                // Given twice: which one counts is the document's to say.
                return null;
            }
            named = true;
            int start = (int)reader.TokenStartIndex;
            if (reader.TokenType != JsonTokenType.StartArray || Measure(ref reader) is not (bool nested, int count))
            {
                return null;
            }
            found = (start, (int)reader.BytesConsumed, nested, count);
        }
        // To the body's end, so that what follows the object is read as the document would read it.
        while (reader.Read())
        {
        }
        return found;
    }

    /// <summary>
    /// From an array's start to its end: whether it is a non-empty array of numbers or of arrays of numbers, and how
    /// many items it has; null for any other array (read only as far as needed to tell).
    /// </summary>
    private static (bool Nested, int Count)? Measure(ref Utf8JsonReader reader)
    {
        bool? nested = null;
        int count = 0;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.EndArray:
                    return count > 0 ? (nested!.Value, count) : null;
                case JsonTokenType.Number when nested != true:
                    nested = false;
                    break;
                case JsonTokenType.StartArray when nested != false:
                    nested = true;
                    while (reader.Read() && reader.TokenType == JsonTokenType.Number)
                    {
                    }
                    if (reader.TokenType != JsonTokenType.EndArray)
                    {
                        return null;
                    }
                    break;
                default:
                    return null;
            }
            count++;
        }
        return null;
    }

    private static byte[] Splice(ReadOnlySpan<byte> json, int start, int end)
    {
        byte[] rest = new byte[start + Placeholder.Length + json.Length - end];
        json[..start].CopyTo(rest);
        Placeholder.CopyTo(rest.AsSpan(start));
        json[end..].CopyTo(rest.AsSpan(start + Placeholder.Length));
        return rest;
    }

    /// <summary>
    /// The ids of an array of numbers (not <see cref="Nested"/>) in order, up to the first number that is not a 32-bit
    /// integer <paramref name="accept"/> takes: that number's text, as written, or null when every one is taken.
    /// </summary>
    public (int[] Ids, string? Refused) Read(Func<int, bool> accept)
    {
        if (Nested)
        {
            throw new InvalidOperationException("an array of arrays of ids is read with ReadEach");
        }
        var reader = new Utf8JsonReader(_array.Span, s_reader);
        reader.Read();
        return ReadNumbers(ref reader, Count, accept);
    }

    /// <summary>Each array of an array of arrays (<see cref="Nested"/>), read as <see cref="Read"/> reads one, in order.</summary>
    public (int[] Ids, string? Refused)[] ReadEach(Func<int, bool> accept)
    {
        if (!Nested)
        {
            throw new InvalidOperationException("an array of ids is read with Read");
        }
        var reader = new Utf8JsonReader(_array.Span, s_reader);
        reader.Read();
        var each = new (int[] Ids, string? Refused)[Count];
        for (int i = 0; i < each.Length; i++)
        {
            reader.Read();
            // Counted first, so its ids take an array of their size: they are read again from the bytes.
            Utf8JsonReader counting = reader;
            int length = 0;
            while (counting.Read() && counting.TokenType == JsonTokenType.Number)
            {
                length++;
            }
            each[i] = ReadNumbers(ref reader, length, accept);
            // To the inner array's end, past any number after a refused one.
            while (reader.TokenType != JsonTokenType.EndArray)
            {
                reader.Read();
            }
        }
        return each;
    }

    /// <summary>The next <paramref name="length"/> numbers at <paramref name="reader"/>, as <see cref="Read"/> reads them.</summary>
    private static (int[] Ids, string? Refused) ReadNumbers(ref Utf8JsonReader reader, int length, Func<int, bool> accept)
    {
        int[] ids = new int[length];
        for (int i = 0; i < length; i++)
        {
            reader.Read();
            // The reader's integer is the document's (both parse the number's bytes whole as an Int32).
            if (!(reader.TryGetInt32(out int id) && accept(id)))
            {
                return (ids[..i], Encoding.UTF8.GetString(reader.ValueSpan));
            }
            ids[i] = id;
        }
        // Past the last number to the array's end, where ReadEach goes on from.
        reader.Read();
        return (ids, null);
    }
}
