namespace Copal.Tensors.Tests;

public class PluralTests
{
    [Theory]
    [InlineData(0, "0 windows")]
    [InlineData(1, "1 window")]
    [InlineData(2, "2 windows")]
    [InlineData(-1, "-1 windows")]
    public void A_count_takes_the_singular_only_for_one(long count, string expected) =>
        Assert.Equal(expected, Plural.Of(count, "window"));

    [Fact]
    public void Irregular_plurals_and_grouping()
    {
        Assert.Equal("1 entry", Plural.Of(1, "entry", "entries"));
        Assert.Equal("3 entries", Plural.Of(3, "entry", "entries"));
        Assert.Equal("115,127 tokens", Plural.Of(115_127, "token", grouped: true));
        Assert.Equal("1 non-overlapping window", Plural.Of(1, "non-overlapping window"));
    }
}
