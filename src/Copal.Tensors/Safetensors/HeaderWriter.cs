using System.Text;

namespace Copal.Tensors.Safetensors;

/// <summary>
/// Serializes a header the way the reference (Rust) implementation does, so that re-saving a file it wrote
/// reproduces it byte for byte: compact JSON with no spaces, <c>__metadata__</c> first (omitted when empty),
/// then each tensor as <c>{"dtype":..,"shape":[..],"data_offsets":[begin,end]}</c> in data order with
/// contiguous offsets, strings escaped as serde_json does (only quote, backslash and control characters; other
/// characters as raw UTF-8), padded with spaces to a multiple of 8 bytes so the data section stays 8-aligned.
/// </summary>
internal static class HeaderWriter
{
    /// <summary>The header bytes (without the 8-byte length prefix) for <paramref name="tensors"/> laid out in order.</summary>
    public static byte[] Build(IReadOnlyList<TensorSpec> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var json = new StringBuilder(64 + tensors.Count * 96);
        json.Append('{');
        bool first = true;
        if (metadata is { Count: > 0 })
        {
            AppendString(json, SafetensorsHeader.MetadataKey);
            json.Append(":{");
            bool firstEntry = true;
            foreach (KeyValuePair<string, string> kv in metadata)
            {
                if (!firstEntry)
                {
                    json.Append(',');
                }
                firstEntry = false;
                AppendString(json, kv.Key);
                json.Append(':');
                AppendString(json, kv.Value);
            }
            json.Append('}');
            first = false;
        }
        long offset = 0;
        foreach (TensorSpec t in tensors)
        {
            if (!first)
            {
                json.Append(',');
            }
            first = false;
            long end = offset + t.ByteLength;
            AppendString(json, t.Name);
            json.Append(":{\"dtype\":\"").Append(t.DType.ToSafetensorsName()).Append("\",\"shape\":[");
            for (int i = 0; i < t.Shape.Length; i++)
            {
                if (i > 0)
                {
                    json.Append(',');
                }
                json.Append(t.Shape[i]);
            }
            json.Append("],\"data_offsets\":[").Append(offset).Append(',').Append(end).Append("]}");
            offset = end;
        }
        json.Append('}');

        // Strict encoding: a lone surrogate in a name must fail here, not be replaced by U+FFFD on disk.
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        int length = utf8.GetByteCount(json.ToString());
        int padded = (length + 7) / 8 * 8;
        byte[] header = new byte[padded];
        utf8.GetBytes(json.ToString(), header);
        header.AsSpan(length).Fill((byte)' ');
        return header;
    }

    private static void AppendString(StringBuilder json, string s)
    {
        json.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': json.Append("\\\""); break;
                case '\\': json.Append("\\\\"); break;
                case '\b': json.Append("\\b"); break;
                case '\f': json.Append("\\f"); break;
                case '\n': json.Append("\\n"); break;
                case '\r': json.Append("\\r"); break;
                case '\t': json.Append("\\t"); break;
                default:
                    if (c < 0x20)
                    {
                        json.Append("\\u00").Append(((int)c).ToString("x2"));
                    }
                    else
                    {
                        json.Append(c);
                    }
                    break;
            }
        }
        json.Append('"');
    }
}
