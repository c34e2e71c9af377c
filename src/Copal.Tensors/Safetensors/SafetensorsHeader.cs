using System.Text;
using System.Text.Json;
using Copal.Tensors.IO;

namespace Copal.Tensors.Safetensors;

/// <summary>
/// Parses and validates a safetensors JSON header. Checks everything the reference implementation checks
/// (and duplicates, which a dictionary-based JSON reader would silently collapse) so a view built from an
/// entry can never point outside the data section.
/// </summary>
internal static class SafetensorsHeader
{
    /// <summary>Headers above this are refused as corrupt, as the reference implementation does.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>The reserved header key holding string→string metadata.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>Byte offset of the header within the file (after the 8-byte length prefix).</summary>
    private const long HeaderStart = 8;

    /// <summary>
    /// Parses <paramref name="header"/> (the bytes after the length prefix) of the file at <paramref name="path"/>
    /// whose data section is <paramref name="dataLength"/> bytes long. Entries come back in header order.
    /// </summary>
    public static (Dictionary<string, string> Metadata, List<HeaderEntry> Entries) Parse(
        ReadOnlySpan<byte> header, string path, long dataLength)
    {
        int invalidAt = FindInvalidUtf8(header);
        if (invalidAt >= 0)
        {
            throw new SafetensorsException(path, "header is not valid UTF-8", HeaderStart + invalidAt);
        }

        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<HeaderEntry>();
        try
        {
            ParseJson(header, path, metadata, entries);
        }
        catch (JsonException e)
        {
            long? at = e.BytePositionInLine is long b && e.LineNumber == 0 ? HeaderStart + b : null;
            throw new SafetensorsException(path, $"header is not valid JSON: {JsonProblem.Reason(e)}", at, e);
        }
        catch (InvalidOperationException e)
        {
            // Utf8JsonReader.GetString throws this for escapes that do not decode (a lone surrogate such as \uD800).
            throw new SafetensorsException(path, $"header holds a string that cannot be decoded: {e.Message}", null, e);
        }

        ValidateCoverage(entries, path, dataLength);
        return (metadata, entries);
    }

    private static void ParseJson(ReadOnlySpan<byte> header, string path,
        Dictionary<string, string> metadata, List<HeaderEntry> entries)
    {
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
        if (!reader.Read())
        {
            throw new SafetensorsException(path, "header is empty, expected a JSON object", HeaderStart);
        }
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw new SafetensorsException(path, $"header is a JSON {Describe(reader.TokenType)}, expected an object",
                HeaderStart + reader.TokenStartIndex);
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (Read(ref reader, path) != JsonTokenType.EndObject)
        {
            long keyAt = HeaderStart + reader.TokenStartIndex;
            string name = reader.GetString()!;
            if (!seen.Add(name))
            {
                throw new SafetensorsException(path, $"header names '{name}' twice", keyAt);
            }
            Read(ref reader, path);
            if (name == MetadataKey)
            {
                ParseMetadata(ref reader, path, metadata);
            }
            else
            {
                entries.Add(ParseTensorInfo(ref reader, path, name));
            }
        }

        // Only whitespace may follow the object (writers pad with spaces); Read throws on anything else.
        if (reader.Read())
        {
            throw new SafetensorsException(path, $"header has a {Describe(reader.TokenType)} after the JSON object",
                HeaderStart + reader.TokenStartIndex);
        }
    }

    private static void ParseMetadata(ref Utf8JsonReader reader, string path, Dictionary<string, string> metadata)
    {
        if (reader.TokenType == JsonTokenType.Null)
        {
            return;
        }
        Expect(ref reader, JsonTokenType.StartObject, path, $"'{MetadataKey}' is a {Describe(reader.TokenType)}, expected an object of strings");
        while (Read(ref reader, path) != JsonTokenType.EndObject)
        {
            long keyAt = HeaderStart + reader.TokenStartIndex;
            string key = reader.GetString()!;
            Read(ref reader, path);
            Expect(ref reader, JsonTokenType.String, path,
                $"metadata value of '{key}' is a {Describe(reader.TokenType)}, expected a string");
            if (!metadata.TryAdd(key, reader.GetString()!))
            {
                throw new SafetensorsException(path, $"metadata names '{key}' twice", keyAt);
            }
        }
    }

    private static HeaderEntry ParseTensorInfo(ref Utf8JsonReader reader, string path, string name)
    {
        long entryAt = HeaderStart + reader.TokenStartIndex;
        Expect(ref reader, JsonTokenType.StartObject, path,
            $"tensor '{name}' is a {Describe(reader.TokenType)}, expected an object with dtype, shape and data_offsets");
        DType? dtype = null;
        long[]? shape = null;
        long[]? offsets = null;
        while (Read(ref reader, path) != JsonTokenType.EndObject)
        {
            long keyAt = HeaderStart + reader.TokenStartIndex;
            string key = reader.GetString()!;
            Read(ref reader, path);
            switch (key)
            {
                case "dtype":
                    ThrowIfRepeated(dtype is not null, path, name, key, keyAt);
                    Expect(ref reader, JsonTokenType.String, path,
                        $"tensor '{name}' dtype is a {Describe(reader.TokenType)}, expected a string");
                    string dtypeName = reader.GetString()!;
                    if (!DTypes.TryParseSafetensorsName(dtypeName, out DType parsed))
                    {
                        throw new SafetensorsException(path,
                            $"tensor '{name}' has unknown dtype '{dtypeName}', expected one of F32, F16, BF16, F64, I8, U8, I16, I32, I64, BOOL",
                            HeaderStart + reader.TokenStartIndex);
                    }
                    dtype = parsed;
                    break;
                case "shape":
                    ThrowIfRepeated(shape is not null, path, name, key, keyAt);
                    shape = ReadIntegers(ref reader, path, name, key);
                    break;
                case "data_offsets":
                    ThrowIfRepeated(offsets is not null, path, name, key, keyAt);
                    offsets = ReadIntegers(ref reader, path, name, key);
                    if (offsets.Length != 2)
                    {
                        throw new SafetensorsException(path,
                            $"tensor '{name}' data_offsets has {offsets.Length} numbers, expected 2 [begin, end]", keyAt);
                    }
                    break;
                default:
                    // Unknown fields are ignored, as the reference implementation's deserializer does.
                    reader.Skip();
                    break;
            }
        }

        if (dtype is null || shape is null || offsets is null)
        {
            string missing = dtype is null ? "dtype" : shape is null ? "shape" : "data_offsets";
            throw new SafetensorsException(path, $"tensor '{name}' has no {missing}", entryAt);
        }
        long begin = offsets[0], end = offsets[1];
        if (end < begin)
        {
            throw new SafetensorsException(path, $"tensor '{name}' data_offsets [{begin}, {end}] end before begin", entryAt);
        }
        long bytes = ByteLength(shape, dtype.Value, path, name, entryAt);
        if (end - begin != bytes)
        {
            throw new SafetensorsException(path,
                $"tensor '{name}' of dtype {dtype.Value.ToSafetensorsName()} and shape [{string.Join(", ", shape)}] needs {bytes} bytes, but data_offsets [{begin}, {end}] span {end - begin}",
                entryAt);
        }
        return new HeaderEntry(name, dtype.Value, shape, begin, end);
    }

    /// <summary>Bytes of a tensor of this shape and dtype; refuses products that overflow.</summary>
    internal static long ByteLength(long[] shape, DType dtype, string path, string name, long? at)
    {
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0 || (d != 0 && count > long.MaxValue / d))
            {
                throw new SafetensorsException(path, $"tensor '{name}' shape [{string.Join(", ", shape)}] has too many elements", at);
            }
            count *= d;
        }
        if (count > long.MaxValue / dtype.SizeOf())
        {
            throw new SafetensorsException(path, $"tensor '{name}' shape [{string.Join(", ", shape)}] has too many bytes", at);
        }
        return count * dtype.SizeOf();
    }

    /// <summary>
    /// The data section must be exactly covered: sorted by offset, the first tensor starts at 0, each starts where
    /// the previous ended, and the last ends at the end of the file.
    /// </summary>
    private static void ValidateCoverage(List<HeaderEntry> entries, string path, long dataLength)
    {
        foreach (HeaderEntry e in entries)
        {
            if (e.End > dataLength)
            {
                throw new SafetensorsException(path,
                    $"tensor '{e.Name}' data_offsets [{e.Begin}, {e.End}] reach past the data section of {dataLength} bytes (file truncated?)");
            }
        }
        HeaderEntry[] sorted = SortByOffset(entries);
        long cursor = 0;
        string? previous = null;
        foreach (HeaderEntry e in sorted)
        {
            if (e.Begin < cursor)
            {
                throw new SafetensorsException(path,
                    $"tensor '{e.Name}' data_offsets [{e.Begin}, {e.End}] overlap tensor '{previous}', which ends at {cursor}");
            }
            if (e.Begin > cursor)
            {
                string after = previous is null ? "the start of the data section" : $"tensor '{previous}'";
                throw new SafetensorsException(path,
                    $"tensor '{e.Name}' begins at data offset {e.Begin}, expected {cursor}: a gap of {e.Begin - cursor} bytes after {after}");
            }
            cursor = e.End;
            previous = e.Name;
        }
        if (cursor != dataLength)
        {
            throw new SafetensorsException(path,
                $"data section is {dataLength} bytes but the tensors cover {cursor}: {dataLength - cursor} trailing bytes belong to no tensor");
        }
    }

    /// <summary>Entries by (begin, end), ties kept in header order so empty tensors stay where they were listed.</summary>
    internal static HeaderEntry[] SortByOffset(List<HeaderEntry> entries)
    {
        HeaderEntry[] sorted = [.. entries];
        int[] order = new int[sorted.Length];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
        }
        Array.Sort(order, (a, b) =>
        {
            int c = sorted[a].Begin.CompareTo(sorted[b].Begin);
            if (c == 0)
            {
                c = sorted[a].End.CompareTo(sorted[b].End);
            }
            return c != 0 ? c : a.CompareTo(b);
        });
        var result = new HeaderEntry[order.Length];
        for (int i = 0; i < order.Length; i++)
        {
            result[i] = sorted[order[i]];
        }
        return result;
    }

    private static long[] ReadIntegers(ref Utf8JsonReader reader, string path, string name, string key)
    {
        Expect(ref reader, JsonTokenType.StartArray, path,
            $"tensor '{name}' {key} is a {Describe(reader.TokenType)}, expected a list of non-negative integers");
        var values = new List<long>();
        while (Read(ref reader, path) != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long v) || v < 0)
            {
                string found = reader.TokenType == JsonTokenType.Number
                    ? Encoding.UTF8.GetString(reader.ValueSpan)
                    : "a " + Describe(reader.TokenType);
                throw new SafetensorsException(path,
                    $"tensor '{name}' {key} holds {found}, expected an integer from 0 to {long.MaxValue}", HeaderStart + reader.TokenStartIndex);
            }
            values.Add(v);
        }
        return [.. values];
    }

    private static JsonTokenType Read(ref Utf8JsonReader reader, string path)
    {
        if (!reader.Read())
        {
            throw new SafetensorsException(path, "header JSON ends early", HeaderStart + reader.BytesConsumed);
        }
        return reader.TokenType;
    }

    private static void Expect(ref Utf8JsonReader reader, JsonTokenType expected, string path, string message)
    {
        if (reader.TokenType != expected)
        {
            throw new SafetensorsException(path, message, HeaderStart + reader.TokenStartIndex);
        }
    }

    private static void ThrowIfRepeated(bool repeated, string path, string name, string key, long at)
    {
        if (repeated)
        {
            throw new SafetensorsException(path, $"tensor '{name}' has '{key}' twice", at);
        }
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "object",
        JsonTokenType.StartArray => "list",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    /// <summary>Index of the first byte that does not start a valid UTF-8 sequence, or -1.</summary>
    private static int FindInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes))
        {
            return -1;
        }
        int i = 0;
        while (i < bytes.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes[i..], out _, out int used) != System.Buffers.OperationStatus.Done)
            {
                return i;
            }
            i += used;
        }
        return -1;
    }
}
