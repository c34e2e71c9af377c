using Copal.Tensors;

namespace Copal.Prune.Tests;

/// <summary>SparsityCheck at its edges, which mutation testing found unchecked: −0 past the vectors, an exact minimum, and shapes.</summary>
public class SparsityCheckBoundsTests
{
    /// <summary>A tensor shorter than one vector is all tail: its −0 is a zero there too.</summary>
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void Negative_zeros_past_the_last_whole_vector_are_counted(DType dtype)
    {
        float[] values = [-0f, 1f, 0f, -0f, -2f];
        using var tensor = new NativeTensor("w", dtype, [values.Length]);
        Copal.Tensors.Numerics.WeightEncoding.Encode(values, dtype, tensor.Bytes);
        Assert.Equal(3, SparsityCheck.CountZeros(tensor.View));
    }

    [Fact]
    public void A_row_with_exactly_the_minimum_of_zeros_passes()
    {
        float[] w = [0, 1, 0, 1, /**/ 0, 0, 0, 1];
        SparsityCheck.ValidatePerRow(w, 2, 4, 2);
        var e = Assert.Throws<SparsityViolationException>(() => SparsityCheck.ValidatePerRow(w, 2, 4, 3));
        Assert.Equal(0, e.Row);
        Assert.Equal("row 0 has 2 zeros, expected at least 3", e.Message);
    }

    [Fact]
    public void Shapes_that_do_not_match_are_refused_by_name()
    {
        float[] w = [0, 1];
        var negative = Assert.Throws<PruningShapeException>(() => SparsityCheck.ValidatePerRow(w, -1, -2, 0));
        Assert.StartsWith("weight has 2 elements, expected -1×-2", negative.Message, StringComparison.Ordinal);
        var perRow = Assert.Throws<PruningShapeException>(() => SparsityCheck.CountZerosPerRow(w, 1, 2, new int[2]));
        Assert.StartsWith("'zerosPerRow' has 2 entries, expected 1 (one per row)", perRow.Message, StringComparison.Ordinal);
    }
}
