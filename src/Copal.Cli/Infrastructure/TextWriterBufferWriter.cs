using System.Buffers;
using System.Text;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// The buffer a <see cref="System.Text.Json.Utf8JsonWriter"/> writes into, handed to a <see cref="TextWriter"/> as
/// text whenever the JSON writer asks for more room: a large document (the ids of a long text) goes out a piece at a
/// time instead of whole as a string, and still wherever <see cref="Console.Out"/> goes, in its encoding. (The
/// serializer into a stream builds the whole document before writing it.)
/// </summary>
internal sealed class TextWriterBufferWriter(TextWriter writer) : IBufferWriter<byte>
{
    private const int BufferBytes = 16 << 10;

    // A UTF-8 sequence cut between two pieces is completed by the next one.
    private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetDecoder();
    private byte[] _bytes = new byte[BufferBytes];
    private char[] _chars = new char[BufferBytes];
    private int _written;

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _bytes.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _bytes.AsSpan(_written);
    }

    /// <summary>Writes what the JSON writer has advanced over into the text writer.</summary>
    public void Flush()
    {
        int chars = _decoder.GetChars(_bytes.AsSpan(0, _written), _chars, flush: false);
        writer.Write(_chars, 0, chars);
        _written = 0;
    }

    // What was advanced over is the JSON writer's no more: it goes out, and the buffer is reused.
    private void Reserve(int sizeHint)
    {
        int need = Math.Max(sizeHint, 1);
        if (_bytes.Length - _written >= need)
        {
            return;
        }
        Flush();
        if (_bytes.Length < need)
        {
            _bytes = new byte[need];
            _chars = new char[need];
        }
    }
}
