using System.Globalization;
using System.Text.Json;
using Copal.Model.Generation;
using Copal.Model.Serving;
using Copal.Testing;

namespace Copal.Model.Tests.Generation;

/// <summary>
/// The sampler against an independent reference (tools/reference/sampling_reference.py, numpy from the documented
/// semantics: OpenAI's bias and penalties, Hugging Face's repetition penalty and filter order), where
/// <see cref="SamplerTests"/> compares it with <see cref="FullSortSampler"/>, its own first version. What is compared is
/// the distribution a draw is taken from, token by token, not frequencies of draws: random rows and adversarial ones
/// (ties at the top-p and top-k cuts, −∞ from logit_bias −100, temperatures of 1e-30 and 1e6, top_p 1e-9, min_p 1,
/// padded vocabulary rows, penalties on repeated ids). Greedy choices must be the same token, and the reported
/// log-probabilities those of the raw logits.
/// </summary>
public sealed class SamplingReferenceTests
{
    private static readonly Lazy<JsonElement[]> s_cases = new(() =>
    [
        .. JsonDocument.Parse(File.ReadAllText(TestData.RepoPath("tests", "Copal.Model.Tests", "Golden", "sampling_reference.json")))
            .RootElement.GetProperty("cases").EnumerateArray(),
    ]);

    public static TheoryData<string> Cases => [.. s_cases.Value.Select(c => c.GetProperty("name").GetString()!)];

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_distribution_a_token_is_drawn_from_matches_the_reference(string name)
    {
        Golden g = Golden.Of(Case(name));
        double[] actual = Sampler(g, seed: 0).Distribution(g.Decodable(), g.Context);
        Assert.Equal(g.Expected.Length, actual.Length);
        for (int t = 0; t < actual.Length; t++)
        {
            double e = g.Expected[t];
            Assert.True(Math.Abs(actual[t] - e) <= Tolerances.KernelAbsolute + (Tolerances.KernelRelative * Math.Abs(e)),
                FormattableString.Invariant($"{name}: token {t} has probability {actual[t]:R}, the reference {e:R}"));
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Every_token_drawn_is_one_the_reference_can_draw_and_greedy_is_its_choice(string name)
    {
        Golden g = Golden.Of(Case(name));
        for (ulong seed = 0; seed < 16; seed++)
        {
            int chosen = Sampler(g, seed).Sample(g.Decodable(), g.Context);
            if (g.Greedy)
            {
                Assert.Equal(1.0, g.Expected[chosen]);
            }
            else
            {
                Assert.True(g.Expected[chosen] > 0, FormattableString.Invariant($"{name}, seed {seed}: drew token {chosen}, which the reference gives 0"));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logprobs_are_the_raw_log_softmax_and_its_likeliest(string name)
    {
        JsonElement c = Case(name);
        if (!c.TryGetProperty("logprobs", out JsonElement expected))
        {
            return; // a row with −∞ logits is no model's output: the server refuses it before any log-probability
        }
        Golden g = Golden.Of(c);
        ChosenLogprobs actual = TokenLogprobs.Of(g.Decodable(), expected.GetProperty("chosen_id").GetInt32(), expected.GetProperty("count").GetInt32());
        int[] topIds = [.. expected.GetProperty("top_ids").EnumerateArray().Select(e => e.GetInt32())];
        double[] top = [.. expected.GetProperty("top").EnumerateArray().Select(e => e.GetDouble())];
        Assert.Equal(topIds, actual.Top.Select(t => t.TokenId));
        AssertClose(expected.GetProperty("chosen").GetDouble(), actual.Chosen.Logprob);
        for (int i = 0; i < top.Length; i++)
        {
            AssertClose(top[i], actual.Top[i].Logprob);
        }
    }

    private static void AssertClose(double expected, double actual) =>
        Assert.True(Math.Abs(actual - expected) <= Tolerances.KernelAbsolute + (Tolerances.KernelRelative * Math.Abs(expected)),
            FormattableString.Invariant($"log-probability {actual:R}, the reference {expected:R}"));

    private static JsonElement Case(string name) => s_cases.Value.Single(c => c.GetProperty("name").GetString() == name);

    /// <summary>
    /// A sampler of the case's options that has already chosen the case's reply: the presence and frequency penalties
    /// count what the sampler itself chose, so each reply token is chosen from a row where it alone is finite.
    /// </summary>
    private static Sampler Sampler(Golden g, ulong seed)
    {
        var sampler = new Sampler(g.Options with { Seed = seed });
        foreach (int token in g.Reply)
        {
            float[] only = new float[g.Logits.Length];
            Array.Fill(only, float.NegativeInfinity);
            only[token] = 0f;
            Assert.Equal(token, sampler.Sample(Generator.Decodable(only, g.DecodableCount), []));
        }
        return sampler;
    }

    private sealed record Golden(float[] Logits, int? DecodableCount, SamplingOptions Options, int[] Context, int[] Reply, double[] Expected)
    {
        public bool Greedy => Options.Temperature == 0f;

        /// <summary>A fresh copy of the decodable rows (the sampler rewrites them), as the engine passes them.</summary>
        public float[] Decodable() => Generator.Decodable((float[])Logits.Clone(), DecodableCount).ToArray();

        public static Golden Of(JsonElement c)
        {
            float[] logits = [.. c.GetProperty("logits").EnumerateArray().Select(Logit)];
            int? decodable = c.GetProperty("decodable").ValueKind == JsonValueKind.Null ? null : c.GetProperty("decodable").GetInt32();
            JsonElement o = c.GetProperty("options");
            var options = new SamplingOptions
            {
                Temperature = Number(o, "temperature", 0f),
                TopK = o.TryGetProperty("top_k", out JsonElement k) ? k.GetInt32() : 0,
                TopP = Number(o, "top_p", 1f),
                MinP = Number(o, "min_p", 0f),
                RepetitionPenalty = Number(o, "repetition_penalty", 1f),
                PresencePenalty = Number(o, "presence_penalty", 0f),
                FrequencyPenalty = Number(o, "frequency_penalty", 0f),
                LogitBias = o.TryGetProperty("logit_bias", out JsonElement b)
                    ? b.EnumerateObject().ToDictionary(p => int.Parse(p.Name, CultureInfo.InvariantCulture), p => p.Value.GetSingle())
                    : null,
            };
            var expected = new double[decodable ?? logits.Length];
            int[] support = [.. c.GetProperty("support").EnumerateArray().Select(e => e.GetInt32())];
            double[] probs = [.. c.GetProperty("probs").EnumerateArray().Select(e => e.GetDouble())];
            for (int i = 0; i < support.Length; i++)
            {
                expected[support[i]] = probs[i];
            }
            return new Golden(logits, decodable, options, Ids(c, "context"), Ids(c, "reply"), expected);
        }

        private static float Logit(JsonElement e) => e.ValueKind == JsonValueKind.String
            ? e.GetString() == "-inf" ? float.NegativeInfinity : float.PositiveInfinity
            : e.GetSingle();

        private static float Number(JsonElement o, string name, float absent) => o.TryGetProperty(name, out JsonElement v) ? v.GetSingle() : absent;

        private static int[] Ids(JsonElement c, string name) => [.. c.GetProperty(name).EnumerateArray().Select(e => e.GetInt32())];
    }
}
