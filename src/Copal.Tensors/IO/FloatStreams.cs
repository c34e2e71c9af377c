using System.Runtime.InteropServices;

namespace Copal.Tensors.IO;

/// <summary>
/// f32 arrays to and from streams as their raw bytes, in pieces: an array may pass 2 GiB of bytes (a 28,672-column
/// cross term is 3.3 GB) where no span of bytes reaches.
/// </summary>
internal static class FloatStreams
{
    /// <summary>Floats per piece (64 MiB).</summary>
    internal const int PieceFloats = 1 << 24;

    /// <summary>Writes <paramref name="values"/>' bytes to <paramref name="stream"/>.</summary>
    public static void Write(Stream stream, ReadOnlySpan<float> values) => Write(stream, values, PieceFloats);

    /// <summary>Fills <paramref name="values"/> from <paramref name="stream"/>; a stream that ends first throws <see cref="EndOfStreamException"/>.</summary>
    public static void ReadExactly(Stream stream, Span<float> values) => ReadExactly(stream, values, PieceFloats);

    internal static void Write(Stream stream, ReadOnlySpan<float> values, int pieceFloats)
    {
        ArgumentNullException.ThrowIfNull(stream);
        for (int i = 0; i < values.Length; i += pieceFloats)
        {
            stream.Write(MemoryMarshal.AsBytes(values.Slice(i, Math.Min(pieceFloats, values.Length - i))));
        }
    }

    internal static void ReadExactly(Stream stream, Span<float> values, int pieceFloats)
    {
        ArgumentNullException.ThrowIfNull(stream);
        for (int i = 0; i < values.Length; i += pieceFloats)
        {
            stream.ReadExactly(MemoryMarshal.AsBytes(values.Slice(i, Math.Min(pieceFloats, values.Length - i))));
        }
    }
}
