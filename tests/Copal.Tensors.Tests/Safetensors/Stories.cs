using System.Buffers.Binary;
using System.Text;
using Copal.Testing;

namespace Copal.Tensors.Tests.Safetensors;

/// <summary>The real stories260K safetensors file and helpers to take it apart.</summary>
internal static class Stories
{
    public static string ModelPath => System.IO.Path.Combine(TestData.Stories260K, "model.safetensors");

    private static readonly Lazy<byte[]> s_bytes = new(() => File.ReadAllBytes(ModelPath));

    /// <summary>The file's bytes (do not modify; copy first).</summary>
    public static byte[] Bytes => s_bytes.Value;

    public static int HeaderLength => (int)BinaryPrimitives.ReadUInt64LittleEndian(Bytes);

    public static string HeaderJson => Encoding.UTF8.GetString(Bytes, 8, HeaderLength);

    public static ReadOnlySpan<byte> Data => Bytes.AsSpan(8 + HeaderLength);

    /// <summary>A file with <paramref name="header"/> as its header (unpadded) and <paramref name="data"/> after it.</summary>
    public static byte[] Assemble(ReadOnlySpan<byte> header, ReadOnlySpan<byte> data)
    {
        byte[] file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file.AsSpan(8));
        data.CopyTo(file.AsSpan(8 + header.Length));
        return file;
    }

    public static byte[] Assemble(string header, ReadOnlySpan<byte> data) => Assemble(Encoding.UTF8.GetBytes(header), data);

    /// <summary>The original file with the header text edited by replacing <paramref name="find"/> (which must occur).</summary>
    public static byte[] WithHeaderEdit(string find, string replace)
    {
        string header = HeaderJson;
        int at = header.IndexOf(find, StringComparison.Ordinal);
        if (at < 0)
        {
            throw new InvalidOperationException($"test setup: '{find}' not in the header");
        }
        return Assemble(header[..at] + replace + header[(at + find.Length)..], Data);
    }
}
