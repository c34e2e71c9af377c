using Copal.Model.Generation;

namespace Copal.Model.Tests.Generation;

/// <summary>
/// <see cref="RankedPrefix"/>'s edges that the sampler's own tests do not reach: a target reached before any token, a
/// sum that never reaches its target (rounding), and a weight exactly at the threshold.
/// </summary>
public class RankedPrefixTests
{
    private static readonly float[] Probs = [0.1f, 0.5f, 0.25f, 0.15f];

    [Fact]
    public void A_target_reached_before_any_token_puts_the_first_ranked_token_first()
    {
        int[] order = [0, 3, 2, 1];
        Assert.Equal(0, RankedPrefix.Crossing(order, Probs, 0, strict: false, countOnly: false));
        Assert.Equal(1, order[0]); // the likeliest
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_sum_that_never_reaches_its_target_gives_the_last_ranked_position(bool countOnly)
    {
        int[] order = [2, 0, 1, 3];
        Assert.Equal(3, RankedPrefix.Crossing(order, Probs, 10, strict: false, countOnly));
        Assert.Equal([1, 2, 3, 0], order); // ranked, the least likely last
    }

    [Fact]
    public void A_weight_exactly_at_the_threshold_is_kept()
    {
        int[] order = [0, 1, 2, 3];
        Assert.Equal(2, RankedPrefix.AtLeast(order, Probs, 0.25f));
        Assert.Equal([1, 2], order[..2]);
    }

    /// <summary>A draw crosses where the ranked sum exceeds its place in the mass; top-p where the sum reaches p.</summary>
    [Fact]
    public void A_strict_crossing_needs_the_sum_to_exceed_the_target_and_a_plain_one_to_reach_it()
    {
        float[] probs = [0.25f, 0.5f, 0.25f];
        int[] order = [0, 1, 2];
        Assert.Equal(2, RankedPrefix.Crossing(order, probs, 0.75, strict: true, countOnly: false)); // 0.5 + 0.25 only reaches it
        order = [0, 1, 2];
        Assert.Equal(0, RankedPrefix.Crossing(order, probs, 0.5, strict: false, countOnly: false));
        Assert.Equal(1, order[0]);
    }
}
