namespace Copal.Tensors.Tests;

public sealed class ByteSizeTests
{
    [Theory]
    [InlineData(0L, "0 B")]
    [InlineData(1023L, "1023 B")]
    [InlineData(1536L, "1.5 KiB")]
    [InlineData(37748736L, "36.0 MiB")]
    [InlineData(1342177280L, "1.25 GiB")]
    [InlineData(4398046511104L, "4.00 TiB")]
    [InlineData(3377699720527872L, "3.00 PiB")]
    [InlineData(long.MaxValue, "8.00 EiB")]
    public void Bytes_are_shown_in_the_largest_binary_unit_they_reach(long bytes, string expected) =>
        Assert.Equal(expected, ByteSize.Format(bytes));

    /// <summary>A size that rounds to 1024 of a unit is shown as 1 of the next ("1024.0 KiB" read as a unit too small).</summary>
    [Theory]
    [InlineData(1_048_575L, "1.0 MiB")]
    [InlineData(1_048_525L, "1.0 MiB")]
    [InlineData(1_048_524L, "1023.9 KiB")]
    [InlineData((1L << 30) - 1, "1.00 GiB")]
    [InlineData((1L << 40) - (1L << 20), "1.00 TiB")]
    public void A_size_that_rounds_up_to_the_next_unit_is_shown_in_it(long bytes, string expected) =>
        Assert.Equal(expected, ByteSize.Format(bytes));
}
