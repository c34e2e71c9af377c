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

    public static TheoryData<float, int, float, float> DrawOptions => new()
    {
        { 1f, 0, 1f, 0f },
        { 0.7f, 40, 1f, 0f },
        { 1f, 0, 0.9f, 0f },
        { 0.8f, 50, 0.95f, 0f },
        { 1f, 0, 1f, 0.05f },
        { 1.3f, 0, 0.5f, 0.1f },
        { 2f, 3, 0.99f, 0.2f },
        { 1f, 5000, 0.9f, 0f },
        { 1f, 64, 1f, 0.02f },
    };

    [Theory]
    [MemberData(nameof(DrawOptions))]
    public void Draws_equal_a_reference_that_sorts_the_whole_vocabulary(float temperature, int topK, float topP, float minP)
    {
        var options = new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP, MinP = minP, Seed = 11 };
        foreach (int n in new[] { 2, 33, 100, 5000, 32000 })
        {
            var sampler = new Sampler(options);
            var reference = new FullSortSampler(options);
            for (int row = 0; row < 40; row++)
            {
                float[] logits = Logits(row, n);
                if (row % 3 == 1)
                {
                    // Many ties, broken by the lower id in both.
                    logits = [.. logits.Select(l => MathF.Round(l))];
                }
                else if (row % 3 == 2)
                {
                    // Peaked with a long tail, as a model's: most tokens far below the few that matter.
                    logits = [.. logits.Select(l => l * 4)];
                }
                Assert.Equal(reference.Sample([.. logits]), sampler.Sample([.. logits], []));
            }
        }
    }

    [Fact]
    public void Top_p_after_top_k_measures_the_nucleus_of_what_top_k_kept()
    {
        // p ∝ 4, 2, 1, 1: top-k 2 keeps 2/3 and 1/3 of the mass left; top-p 0.6 of that is the first token alone (HF,
        // vLLM), where 0.6 of the whole (4/8 = 0.5 < 0.6) would keep two.
        float[] template = [MathF.Log(4), MathF.Log(2), 0, 0];
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, TopK = 2, TopP = 0.6f, Seed = 5 });
        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(0, sampler.Sample([.. template], []));
        }
    }

    [Fact]
    public void Min_p_keeps_the_tokens_at_least_that_share_of_the_likeliest()
    {
        // Weights 1, 0.5, 0.2, 0.05 of the likeliest: min-p 0.3 keeps the first two, and both come up.
        float[] template = [0, MathF.Log(0.5f), MathF.Log(0.2f), MathF.Log(0.05f)];
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, MinP = 0.3f, Seed = 2 });
        var seen = new HashSet<int>();
        for (int i = 0; i < 500; i++)
        {
            seen.Add(sampler.Sample([.. template], []));
        }
        Assert.Equal(new HashSet<int> { 0, 1 }, seen);
    }

    [Fact]
    public void Presence_and_frequency_penalties_count_the_tokens_this_sampler_chose()
    {
        var sampler = new Sampler(new SamplingOptions { PresencePenalty = 0.5f, FrequencyPenalty = 0.25f });
        float[] first = [3, 2, 1];
        Assert.Equal(0, sampler.Sample(first, [1, 1, 1])); // the context (a prompt) does not count
        Assert.Equal([3f, 2f, 1f], first);
        float[] second = [3, 2, 1];
        Assert.Equal(0, sampler.Sample(second, [1, 1, 1, 0]));
        Assert.Equal([3f - 0.75f, 2f, 1f], second); // chosen once: presence 0.5 + frequency 0.25
        float[] third = [3, 2.6f, 1];
        Assert.Equal(1, sampler.Sample(third, []));
        Assert.Equal([3f - 1f, 2.6f, 1f], third); // chosen twice: 0.5 + 2 × 0.25
        float[] fourth = [3, 2.6f, 1];
        sampler.Sample(fourth, []);
        Assert.Equal([3f - 1f, 2.6f - 0.75f, 1f], fourth);
    }

    [Fact]
    public void Logit_bias_moves_greedy_and_sampled_choices()
    {
        float[] row = [5, 1, 0, -2];
        var ban = new Dictionary<int, float> { [0] = -100 };
        var force = new Dictionary<int, float> { [3] = 100 };
        Assert.Equal(1, new Sampler(new SamplingOptions { LogitBias = ban }).Sample([.. row], []));
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, LogitBias = force, Seed = 9 });
        for (int i = 0; i < 100; i++)
        {
            Assert.Equal(3, sampler.Sample([.. row], []));
        }
        var outside = new Sampler(new SamplingOptions { LogitBias = new Dictionary<int, float> { [4] = 1 } });
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => outside.Sample([.. row], []));
        Assert.Contains("token 4, outside the 4 tokens", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_bias_comes_before_the_penalties_so_a_banned_token_stays_banned()
    {
        // vLLM's order: (5 − 100) × 1.2, not 5 / 1.2 − 100.
        float[] logits = [5, 1];
        new Sampler(new SamplingOptions { RepetitionPenalty = 1.2f, LogitBias = new Dictionary<int, float> { [0] = -100 } }).Sample(logits, [0]);
        Assert.Equal(-95f * 1.2f, logits[0]);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(1f)]
    public void No_token_to_choose_is_an_error_not_an_arbitrary_id(float temperature)
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = temperature });
        var e = Assert.Throws<NoTokenToChooseException>(() => sampler.Sample([float.NegativeInfinity, float.NegativeInfinity], []));
        Assert.StartsWith("no token can be chosen: all 2 logits are −∞", e.Message, StringComparison.Ordinal);
        Assert.Null(e.Option); // they came that way: no option to blame
        e = Assert.Throws<NoTokenToChooseException>(() => sampler.Sample([0f, float.NaN, 1f], []));
        Assert.StartsWith("a logit is NaN or +∞", e.Message, StringComparison.Ordinal);
        Assert.Null(e.Option);
        // One −∞ among finite logits is a token that is never chosen.
        Assert.Equal(1, sampler.Sample([float.NegativeInfinity, 0f], []));
    }

    /// <summary>The step that first sent a finite logit out of range is named, not guessed from the options set.</summary>
    [Fact]
    public void No_token_to_choose_names_the_option_that_sent_a_logit_out_of_range()
    {
        // The penalty sends the seen token's −2 to −∞, and the other was masked: the penalty is to blame, not the mask.
        var e = Assert.Throws<NoTokenToChooseException>(() =>
            new Sampler(new SamplingOptions { RepetitionPenalty = 3e38f, PresencePenalty = 0.5f }).Sample([-2f, float.NegativeInfinity], [0]));
        Assert.Equal(nameof(SamplingOptions.RepetitionPenalty), e.Option);
        Assert.EndsWith("(the repetition penalty of 3E+38 sent a finite logit out of range)", e.Message, StringComparison.Ordinal);
        // A bias that overflows a huge logit to +∞, with a repetition penalty set that does nothing to it.
        e = Assert.Throws<NoTokenToChooseException>(() =>
            new Sampler(new SamplingOptions { RepetitionPenalty = 1.1f, LogitBias = new Dictionary<int, float> { [1] = 3e38f } }).Sample([0f, 3e38f], []));
        Assert.Equal(nameof(SamplingOptions.LogitBias), e.Option);
        // The presence and frequency penalties run as one step: the larger term is to blame, here the presence's.
        var both = new Sampler(new SamplingOptions { PresencePenalty = 3e38f, FrequencyPenalty = 0.5f });
        Assert.Equal(0, both.Sample([-3e38f, float.NegativeInfinity], []));
        e = Assert.Throws<NoTokenToChooseException>(() => both.Sample([-3e38f, float.NegativeInfinity], []));
        Assert.Equal(nameof(SamplingOptions.PresencePenalty), e.Option);
    }

    /// <summary>
    /// A logit that came as −∞ (JSON mode's mask) stays −∞ under a penalty: the penalty sent no finite logit out of
    /// range, so with every logit masked none is blamed (the server then names response_format, not the penalty).
    /// </summary>
    [Fact]
    public void A_penalty_on_logits_that_came_as_minus_infinity_is_not_blamed()
    {
        var sampler = new Sampler(new SamplingOptions { RepetitionPenalty = 1.5f, PresencePenalty = 0.5f });
        var e = Assert.Throws<NoTokenToChooseException>(() => sampler.Sample([float.NegativeInfinity, float.NegativeInfinity], [0, 1]));
        Assert.Null(e.Option);
        Assert.DoesNotContain("sent a finite logit out of range", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-0.1f, 0f, 0f, 0, 1f)]
    [InlineData(1.5f, 0f, 0f, 0, 1f)]
    [InlineData(0f, float.NaN, 0f, 0, 1f)]
    [InlineData(0f, 0f, float.PositiveInfinity, 0, 1f)]
    [InlineData(0f, 0f, 0f, -1, 1f)]
    [InlineData(0f, 0f, 0f, 0, float.NaN)]
    public void Invalid_new_options_are_rejected(float minP, float presence, float frequency, int biasId, float bias)
    {
        var options = new SamplingOptions
        {
            MinP = minP,
            PresencePenalty = presence,
            FrequencyPenalty = frequency,
            LogitBias = new Dictionary<int, float> { [biasId] = bias },
        };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Sampler(options));
        Assert.StartsWith($"SamplingOptions.{e.ParamName} must ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }
}
