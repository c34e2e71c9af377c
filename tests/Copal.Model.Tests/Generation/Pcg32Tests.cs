using Copal.Model.Generation;

namespace Copal.Model.Tests.Generation;

public sealed class Pcg32Tests
{
    /// <summary>The synthetic-model writer fills pieces of one stream in parallel: a jump must land on the very draw.</summary>
    [Theory]
    [InlineData(0UL)]
    [InlineData(1UL)]
    [InlineData(2UL)]
    [InlineData(1000UL)]
    [InlineData((1UL << 20) + 3)]
    public void Ahead_lands_on_the_draw_a_sequential_stream_gives(ulong draws)
    {
        var sequential = new Pcg32(42);
        var origin = new Pcg32(42);
        for (ulong i = 0; i < draws; i++)
        {
            sequential.NextUInt();
        }
        Pcg32 jumped = origin.Ahead(draws);
        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(sequential.NextUInt(), jumped.NextUInt());
        }
        // The origin does not move.
        Assert.Equal(new Pcg32(42).NextUInt(), origin.NextUInt());
    }
}
