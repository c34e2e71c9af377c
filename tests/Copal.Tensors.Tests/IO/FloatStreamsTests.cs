using Copal.Tensors.IO;

namespace Copal.Tensors.Tests.IO;

public class FloatStreamsTests
{
    /// <summary>Floats written and read in pieces that do not divide the array come back bit for bit, NaN payloads and −0 included.</summary>
    [Fact]
    public void Floats_in_pieces_come_back_bit_for_bit()
    {
        float[] values = new float[23];
        var random = new Random(3);
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BitConverter.Int32BitsToSingle(random.Next());
        }
        values[4] = -0f;
        using var stream = new MemoryStream();
        FloatStreams.Write(stream, values, pieceFloats: 5);
        Assert.Equal(values.Length * sizeof(float), stream.Length);
        stream.Position = 0;
        float[] read = new float[values.Length];
        FloatStreams.ReadExactly(stream, read, pieceFloats: 5);
        Assert.Equal(values.Select(BitConverter.SingleToInt32Bits), read.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void A_stream_that_ends_early_throws()
    {
        using var stream = new MemoryStream(new byte[10]);
        Assert.Throws<EndOfStreamException>(() => FloatStreams.ReadExactly(stream, new float[3], pieceFloats: 2));
    }
}
