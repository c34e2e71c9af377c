using Copal.Tensors.Numerics;

namespace Copal.Tensors.Tests.Numerics;

public class WeightEncodingTests
{
    /// <summary>
    /// Encoding into a tensor piece by piece (how a tensor past 2 GiB is written) gives the bytes of one whole encode,
    /// in every dtype, with pieces that do not divide the tensor.
    /// </summary>
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void Pieces_give_the_bytes_of_one_whole_encode(DType dtype)
    {
        var random = new Random(5);
        float[] weight = new float[7 * 13];
        for (int i = 0; i < weight.Length; i++)
        {
            weight[i] = i % 5 == 0 ? 0f : (float)(random.NextDouble() * 4 - 2);
        }
        byte[] whole = new byte[weight.Length * dtype.SizeOf()];
        WeightEncoding.Encode(weight, dtype, whole);
        using var tensor = new NativeTensor("w", dtype, [7, 13]);
        WeightEncoding.Encode(weight, tensor, pieceElements: 6);
        Assert.True(whole.AsSpan().SequenceEqual(tensor.Bytes));
    }

    [Fact]
    public void A_tensor_of_another_size_is_refused_naming_it()
    {
        using var tensor = new NativeTensor("model.embed_tokens.weight", DType.BF16, [4, 4]);
        var e = Assert.Throws<ArgumentException>(() => WeightEncoding.Encode(new float[15], tensor));
        Assert.Contains("'model.embed_tokens.weight' holds 16 elements; 15 were given", e.Message, StringComparison.Ordinal);
    }
}
