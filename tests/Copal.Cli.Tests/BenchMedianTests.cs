using Copal.Cli.Commands;

namespace Copal.Cli.Tests;

/// <summary>
/// <c>copal bench</c> reports each rate as the median of the rounds' rates, the figures its round lines print, so
/// a reader can check it against them: with an even --repeat that is the mean of the middle two rates, not the
/// tokens over the mean of the middle two times (their harmonic mean, lower).
/// </summary>
public sealed class BenchMedianTests
{
    [Fact]
    public void An_odd_number_of_rounds_gives_the_middle_rounds_rate()
    {
        // Rates 80, 160 and 40 tokens/s.
        Assert.Equal(80, BenchModel.MedianRate(8, [0.1, 0.05, 0.2]), 12);
    }

    [Fact]
    public void Two_rounds_give_the_mean_of_their_rates()
    {
        // Rates 80 and 160 tokens/s: the median is 120, where 8 tokens over the mean time of 0.075 s read 106.7.
        Assert.Equal(120, BenchModel.MedianRate(8, [0.1, 0.05]), 12);
    }

    [Fact]
    public void Four_rounds_give_the_mean_of_the_middle_two_rates()
    {
        // Rates 10, 20, 40 and 100 tokens/s.
        Assert.Equal(30, BenchModel.MedianRate(4, [0.4, 0.2, 0.1, 0.04]), 12);
    }
}
