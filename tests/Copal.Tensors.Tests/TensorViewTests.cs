namespace Copal.Tensors.Tests;

public class TensorViewTests
{
    /// <summary>
    /// A shape whose element count passes a long wrapped around: [2^32, 2^32] counted 0 elements, so a view of no
    /// bytes was taken as one of that shape, and a native tensor of it allocated one byte.
    /// </summary>
    [Fact]
    public unsafe void A_shape_of_more_elements_than_a_long_holds_is_refused_naming_the_tensor()
    {
        long[] shape = [1L << 32, 1L << 32];
        var view = Assert.Throws<ArgumentException>(() => new TensorView("model.embed_tokens.weight", DType.F32, shape, null, 0));
        Assert.Contains("tensor 'model.embed_tokens.weight' of shape [4294967296, 4294967296] has more elements than a long holds", view.Message, StringComparison.Ordinal);
        var bytes = Assert.Throws<ArgumentException>(() => new TensorView("w", DType.F32, [1L << 31, 1L << 31], null, 0));
        Assert.Contains("more bytes than a long holds", bytes.Message, StringComparison.Ordinal);
        var native = Assert.Throws<ArgumentException>(() => new NativeTensor("w", DType.BF16, shape));
        Assert.Contains("tensor 'w' of shape [4294967296, 4294967296] has more elements than a long holds", native.Message, StringComparison.Ordinal);
    }

    [Fact]
    public unsafe void A_negative_dimension_is_refused_by_a_native_tensor_before_any_allocation()
    {
        var e = Assert.Throws<ArgumentException>(() => new NativeTensor("w", DType.F32, [4, -2]));
        Assert.Contains("tensor 'w' has a negative dimension in shape [4, -2]", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A dimension of zero makes a tensor of no elements, however large the others (safetensors allows it).</summary>
    [Fact]
    public unsafe void A_zero_dimension_holds_no_elements_whatever_the_others()
    {
        var view = new TensorView("w", DType.F32, [1L << 32, 1L << 32, 0], null, 0);
        Assert.Equal(0, view.ElementCount);
        using var native = new NativeTensor("w", DType.F32, [1L << 40, 0, 1L << 40]);
        Assert.Equal(0, native.ByteLength);
    }
}
