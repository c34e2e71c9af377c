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

    /// <summary>
    /// A seed gives PCG32's reference stream, so sampled output stays the same across versions of Copal. The expected
    /// draws come from a separate implementation of the PCG paper's pcg32_srandom_r / pcg32_random_r (checked first
    /// against the reference demo's published draws for state 42, sequence 54: 0xa15c02b7 0x7b47f409 ...), with the
    /// sequence whose increment is Copal's fixed one: (1442695040888963407 − 1) / 2 = 721347520444481703.
    /// </summary>
    [Theory]
    [InlineData(0UL, 3894649422u, 2055130073u, 2315086854u, 2925816488u)]
    [InlineData(42UL, 3270867926u, 1795671209u, 1924641435u, 1143034755u)]
    [InlineData(ulong.MaxValue, 3643879478u, 3444271506u, 2072954526u, 2577256464u)]
    public void A_seed_gives_the_reference_pcg32_stream(ulong seed, uint first, uint second, uint third, uint fourth)
    {
        var rng = new Pcg32(seed);
        uint[] drawn = [rng.NextUInt(), rng.NextUInt(), rng.NextUInt(), rng.NextUInt()];
        Assert.Equal(new[] { first, second, third, fourth }, drawn);
    }
}
