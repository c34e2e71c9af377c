using Copal.Model.Generation;

namespace Copal.Model.Tests.Generation;

public class SamplerTests
{
    private static float[] Logits(int seed, int n = 100)
    {
        var rng = new Pcg32((ulong)seed);
        return Enumerable.Range(0, n).Select(_ => rng.NextFloat() * 10 - 5).ToArray();
    }

    [Fact]
    public void Greedy_is_argmax_with_lowest_index_on_ties()
    {
        float[] logits = [1, 3, 3, 2];
        Assert.Equal(1, new Sampler(SamplingOptions.Greedy).Sample(logits, []));
    }

    [Fact]
    public void Top_k_1_equals_greedy_at_any_temperature()
    {
        for (int s = 0; s < 20; s++)
        {
            float[] logits = Logits(s);
            int expected = Sampler.ArgMax(logits);
            var sampler = new Sampler(new SamplingOptions { Temperature = 1.5f, TopK = 1, Seed = (ulong)s });
            Assert.Equal(expected, sampler.Sample(logits, []));
        }
    }

    [Fact]
    public void Same_seed_same_tokens_and_different_seed_differs()
    {
        int[] Draw(ulong seed)
        {
            var sampler = new Sampler(new SamplingOptions { Temperature = 1f, Seed = seed });
            return Enumerable.Range(0, 50).Select(i => sampler.Sample(Logits(i), [])).ToArray();
        }
        Assert.Equal(Draw(7), Draw(7));
        Assert.NotEqual(Draw(7), Draw(8));
    }

    [Fact]
    public void Top_p_keeps_only_the_nucleus()
    {
        // p(0) ≈ 0.84, p(1) ≈ 0.11, the rest tiny: top-p 0.5 must always pick 0, top-p 0.9 only 0 or 1.
        float[] template = [5, 3, 0, 0, 0, 0];
        var narrow = new Sampler(new SamplingOptions { Temperature = 1f, TopP = 0.5f, Seed = 1 });
        var wide = new Sampler(new SamplingOptions { Temperature = 1f, TopP = 0.9f, Seed = 1 });
        var seen = new HashSet<int>();
        for (int i = 0; i < 500; i++)
        {
            Assert.Equal(0, narrow.Sample((float[])template.Clone(), []));
            seen.Add(wide.Sample((float[])template.Clone(), []));
        }
        Assert.Equal(new HashSet<int> { 0, 1 }, seen);
    }

    [Fact]
    public void Repetition_penalty_follows_hf()
    {
        float[] logits = [2, -2, 1];
        new Sampler(new SamplingOptions { RepetitionPenalty = 2f }).Sample(logits, [0, 1, 0]);
        Assert.Equal([1f, -4f, 1f], logits);
    }

    [Fact]
    public void Sampling_frequencies_follow_the_softmax()
    {
        float[] template = [0, (float)Math.Log(3)]; // p = 0.25, 0.75
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, Seed = 3 });
        int ones = Enumerable.Range(0, 20000).Count(_ => sampler.Sample((float[])template.Clone(), []) == 1);
        Assert.InRange(ones / 20000.0, 0.74 - 0.015, 0.76 + 0.015);
    }

    [Theory]
    [InlineData(-1f, 0, 1f, 1f)]
    [InlineData(1f, -1, 1f, 1f)]
    [InlineData(1f, 0, 0f, 1f)]
    [InlineData(1f, 0, 1.5f, 1f)]
    [InlineData(1f, 0, 1f, 0f)]
    public void Invalid_options_are_rejected(float t, int k, float p, float penalty)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(new SamplingOptions { Temperature = t, TopK = k, TopP = p, RepetitionPenalty = penalty }));
        // One line in the library's names, the value given at its end.
        Assert.StartsWith($"SamplingOptions.{e.ParamName} must be ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain("--", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1e-38f)]
    [InlineData(float.Epsilon)]
    [InlineData(1e-30f)]
    public void A_tiny_temperature_samples_the_largest_logit(float temperature)
    {
        // logit / T overflowed to ±Inf for such T, Inf − Inf made every probability NaN, and the draw fell to the last id.
        float[] row = [0.5f, 3.25f, -4f, 3f, 1f];
        for (ulong seed = 0; seed < 20; seed++)
        {
            var sampler = new Sampler(new SamplingOptions { Temperature = temperature, Seed = seed });
            Assert.Equal(1, sampler.Sample([.. row], []));
        }
    }
}
