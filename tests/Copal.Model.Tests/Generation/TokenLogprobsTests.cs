using Copal.Model.Serving;

namespace Copal.Model.Tests.Generation;

public sealed class TokenLogprobsTests
{
    /// <summary>
    /// Tied logits list the lower id first, as the documented order says (and as the greedy sampler chooses), however
    /// the ties arrive: here three ties of the top logit, and a fourth that would enter the list only by displacing one.
    /// </summary>
    [Fact]
    public void Tied_top_logprobs_list_the_lower_id_first()
    {
        float[] logits = [0f, 2f, 2f, 1f, 2f];
        ChosenLogprobs three = TokenLogprobs.Of(logits, chosen: 3, top: 3);
        Assert.Equal([1, 2, 4], three.Top.Select(t => t.TokenId));
        ChosenLogprobs two = TokenLogprobs.Of(logits, chosen: 3, top: 2);
        Assert.Equal([1, 2], two.Top.Select(t => t.TokenId));
        Assert.Equal(two.Top[0].Logprob, two.Top[1].Logprob);
    }
}
