using System.Numerics.Tensors;

namespace Copal.Model.Generation;

/// <summary>Chooses the next token from a row of logits under <see cref="SamplingOptions"/>.</summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Pcg32 _rng;
    private int[] _order = [];
    private float[] _probs = [];
    private HashSet<int>? _seen;
    // How often this sampler chose each token, when a presence or frequency penalty needs it.
    private readonly Dictionary<int, int>? _chosenCounts;

    /// <summary>
    /// A sampler whose generator starts at <see cref="SamplingOptions.Seed"/>; it advances with every draw, so one
    /// sampler per sequence, and not shared between threads.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range (<see cref="SamplingOptions.Validate"/>).</exception>
    public Sampler(SamplingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _rng = new Pcg32(options.Seed);
        _chosenCounts = options.PresencePenalty != 0f || options.FrequencyPenalty != 0f ? [] : null;
    }

    /// <summary>
    /// A sampler that draws in the vocabulary-sized buffers of <paramref name="previous"/>, which is done with (a
    /// server slot's last sequence): a sampler per request would otherwise leave two arrays of the vocabulary's size
    /// to the collector each time. Its state (the generator, the counts) is its own, as a new sampler's.
    /// </summary>
    internal Sampler(SamplingOptions options, Sampler? previous)
        : this(options)
    {
        if (previous is not null)
        {
            _probs = previous._probs;
            _order = previous._order;
        }
    }

    /// <summary>
    /// The next token. <paramref name="logits"/> is modified (bias, penalties, temperature); <paramref name="context"/>
    /// holds the tokens seen so far, prompt included, for the repetition penalty. The presence and frequency penalties
    /// count the tokens this sampler chose, the reply so far, as OpenAI's and vLLM's do.
    /// </summary>
    /// <exception cref="NoTokenToChooseException">No token can be chosen: every logit is −∞ (all banned or masked), or one
    /// is NaN or +∞; it names the option that sent a finite logit there, if one did.</exception>
    public int Sample(Span<float> logits, ReadOnlySpan<int> context)
    {
        float max = Process(logits, context);
        int chosen = _options.Temperature == 0f ? ArgMax(logits) : Draw(logits, max);
        if (_chosenCounts is not null)
        {
            _chosenCounts[chosen] = _chosenCounts.GetValueOrDefault(chosen) + 1;
        }
        return chosen;
    }

    /// <summary>
    /// The probability with which <see cref="Sample"/> would choose each token now, from the same steps (greedy is
    /// one token at 1), without drawing or counting the choice: what tests compare with an independent reference
    /// (tools/reference/sampling_reference.py), since frequencies of draws can only be checked statistically.
    /// </summary>
    internal double[] Distribution(Span<float> logits, ReadOnlySpan<int> context)
    {
        float max = Process(logits, context);
        var distribution = new double[logits.Length];
        if (_options.Temperature == 0f)
        {
            distribution[ArgMax(logits)] = 1;
            return distribution;
        }
        // A draw of 1 makes every token a candidate when no filter applies; the filters rank as they do for a draw.
        int keep = Keep(logits, max, draw: 1, out double kept);
        foreach (int token in _order.AsSpan(0, keep))
        {
            distribution[token] = _probs[token] / kept;
        }
        return distribution;
    }

    /// <summary>The logits after the bias and the penalties; returns their maximum, which is finite.</summary>
    /// <exception cref="NoTokenToChooseException">No token can be chosen.</exception>
    private float Process(Span<float> logits, ReadOnlySpan<int> context)
    {
        RequireLogits(logits);
        // The first step that sends a finite logit out of range, named if no token is left to choose.
        string? culprit = null;
        // The bias first, then the penalties, as vLLM and HF's sequence bias: a banned token a penalty then scales stays banned.
        if (_options.LogitBias is { Count: > 0 } bias)
        {
            foreach ((int token, float value) in bias)
            {
                if ((uint)token >= (uint)logits.Length)
                {
                    throw new ArgumentOutOfRangeException(nameof(SamplingOptions.LogitBias), FormattableString.Invariant(
                        $"SamplingOptions.LogitBias names token {token}, outside the {logits.Length} tokens that can be chosen"));
                }
                Change(logits, token, logits[token] + value, nameof(SamplingOptions.LogitBias), ref culprit);
            }
        }
        if (_options.RepetitionPenalty != 1f)
        {
            ApplyRepetitionPenalty(logits, context, _options.RepetitionPenalty, ref culprit);
        }
        if (_chosenCounts is not null)
        {
            foreach ((int token, int count) in _chosenCounts)
            {
                if (token < logits.Length)
                {
                    float frequency = count * _options.FrequencyPenalty;
                    // One step for both: the larger term is what sent a logit out of range, if one went.
                    string penalty = Math.Abs(_options.PresencePenalty) > Math.Abs(frequency) ? nameof(SamplingOptions.PresencePenalty) : nameof(SamplingOptions.FrequencyPenalty);
                    Change(logits, token, logits[token] - (frequency + _options.PresencePenalty), penalty, ref culprit);
                }
            }
        }
        // Anything else would choose a token no logit speaks for (the last id, or the first).
        float max = TensorPrimitives.Max(logits);
        if (!float.IsFinite(max))
        {
            string cause = culprit is null ? "" : $" ({Culprit(culprit)} sent a finite logit out of range)";
            throw new NoTokenToChooseException(float.IsNegativeInfinity(max)
                ? FormattableString.Invariant($"no token can be chosen: all {logits.Length} logits are −∞ (banned or masked){cause}")
                : $"a logit is NaN or +∞ (a penalty or bias out of range, or damaged logits); no token can be chosen{cause}", culprit);
        }
        return max;
    }

    private bool Filters(int n) => (_options.TopK > 0 && _options.TopK < n) || _options.TopP < 1f || _options.MinP > 0f;

    private int Draw(Span<float> logits, float max)
    {
        // The draw's place in the ranked mass is known before any ranking when nothing filters (one draw per token
        // either way, so a seed draws the same).
        bool filtered = Filters(logits.Length);
        double draw = filtered ? 0 : _rng.NextFloat();
        int keep = Keep(logits, max, draw, out double kept);
        double target = (filtered ? _rng.NextFloat() : draw) * kept;
        return _order[RankedPrefix.Crossing(_order.AsSpan(0, keep), _probs, target, strict: true, countOnly: false)];
    }

    // Temperature, then top-k, top-p and min-p in HF's order, each over what the one before kept. Only the likeliest
    // tokens are ever ranked (RankedPrefix), never the whole vocabulary. Returns how many tokens of _order are kept,
    // with their weights' sum in kept; with no filter, those that a draw at that place in the mass can fall on.
    private int Keep(Span<float> logits, float max, double draw, out double kept)
    {
        int n = logits.Length;
        if (_probs.Length != n)
        {
            _probs = new float[n];
            _order = new int[n];
        }
        // The maximum comes off before the division: logit / T overflows to ±Inf for a tiny T (1e-38), and Inf − Inf
        // made every probability NaN. (l − max) / T is ≤ 0, so a tiny T sends all but the maxima to −Inf: greedy.
        // It also makes the likeliest token's weight 1, which min-p measures against: within an ulp, since the
        // vectorized exp of 0 may give 1.00000012 (it does on AVX-512), so nothing may count on equality with 1.
        float[] probs = _probs;
        TensorPrimitives.Subtract(logits, max, logits);
        TensorPrimitives.Divide(logits, _options.Temperature, logits);
        TensorPrimitives.Exp(logits, probs);
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            sum += probs[i];
        }
        bool topK = _options.TopK > 0 && _options.TopK < n;
        Span<int> order = _order.AsSpan(0, Candidates(probs, sum, topK, draw));
        int keep = order.Length;
        kept = sum;
        if (topK)
        {
            keep = RankedPrefix.Crossing(order, probs, _options.TopK, strict: false, countOnly: true) + 1;
            kept = Sum(order[..keep], probs);
        }
        if (_options.TopP < 1f)
        {
            // The nucleus of what top-k kept, renormalized, as HF's and vLLM's top-p after top-k.
            keep = RankedPrefix.Crossing(order[..keep], probs, _options.TopP * kept, strict: false, countOnly: false) + 1;
            kept = Sum(order[..keep], probs);
        }
        if (_options.MinP > 0f)
        {
            // At least the likeliest token (weight 1 ≥ MinP) stays.
            keep = RankedPrefix.AtLeast(order[..keep], probs, _options.MinP);
            kept = Sum(order[..keep], probs);
        }
        return keep;
    }

    /// <summary>
    /// Puts in <see cref="_order"/> the tokens that can matter, and returns how many: with top-k, those at or above a
    /// weight k tokens reach (<see cref="TopKFloor"/>); otherwise those at or above a weight below which the rest cannot
    /// reach the mass the draw or top-p asks for. N tokens under a threshold τ weigh less than N·τ, so with τ half of what is left over the target
    /// divided by N, the tokens above it hold more than the target: they are the ranked prefix the crossing lies in.
    /// A model's distribution puts most of a 128k vocabulary far below that, so top-p and the draw rank a few hundred
    /// tokens rather than all.
    /// </summary>
    private int Candidates(float[] probs, double sum, bool topK, double draw)
    {
        int n = probs.Length;
        float threshold = 0f;
        if (topK)
        {
            threshold = TopKFloor(probs, _options.TopK);
        }
        else
        {
            double target = _options.TopP < 1f ? _options.TopP * sum : _options.MinP > 0f ? sum : draw * sum;
            // Min-p drops everything below its own share; top-p before it keeps a superset of what min-p keeps.
            threshold = MathF.Max((float)((sum - target) * 0.5 / n), _options.MinP);
        }
        int count = 0;
        for (int i = 0; i < n; i++)
        {
            // Without a branch: every token written, the count moved by 0 or 1.
            _order[count] = i;
            count += probs[i] >= threshold ? 1 : 0;
        }
        return count;
    }

    /// <summary>
    /// A weight that at least <paramref name="k"/> tokens reach, so the k likeliest are all at or above it: the power of
    /// two below which the k-th token lies, from a histogram of the weights' exponents (weights are in [0, 1], the
    /// likeliest 1 within an ulp, in the same binade as 1). No mass bounds the k-th token, so top-k partitioned the whole vocabulary by count; it now
    /// partitions the tokens within a factor of two of the k-th and above.
    /// </summary>
    private static float TopKFloor(float[] probs, int k)
    {
        Span<int> counts = stackalloc int[256];
        counts.Clear();
        foreach (float p in probs)
        {
            counts[BitConverter.SingleToInt32Bits(p) >>> 23]++;
        }
        int reached = 0;
        for (int exponent = 255; exponent > 0; exponent--)
        {
            reached += counts[exponent];
            if (reached >= k)
            {
                return BitConverter.Int32BitsToSingle(exponent << 23);
            }
        }
        return 0f;
    }

    private static double Sum(ReadOnlySpan<int> tokens, float[] probs)
    {
        double sum = 0;
        foreach (int t in tokens)
        {
            sum += probs[t];
        }
        return sum;
    }

    /// <summary>Index of the largest logit; the lowest index wins ties, as torch.argmax does.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        RequireLogits(logits);
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
        {
            if (logits[i] > logits[best])
            {
                best = i;
            }
        }
        return best;
    }

    // HF RepetitionPenaltyLogitsProcessor: a seen token's logit is divided by the penalty when positive and
    // multiplied when negative, so the penalty always lowers its probability.
    private void ApplyRepetitionPenalty(Span<float> logits, ReadOnlySpan<int> context, float penalty, ref string? culprit)
    {
        HashSet<int> seen = _seen ??= [];
        seen.Clear();
        foreach (int t in context)
        {
            if ((uint)t < (uint)logits.Length && seen.Add(t))
            {
                Change(logits, t, logits[t] < 0 ? logits[t] * penalty : logits[t] / penalty, nameof(SamplingOptions.RepetitionPenalty), ref culprit);
            }
        }
    }

    // The step to blame in words, with its value: the message reaches people through the CLI and the server, whose
    // option and field names differ and neither of which is the property's name (Option carries that for code).
    private string Culprit(string option) => option switch
    {
        nameof(SamplingOptions.RepetitionPenalty) => FormattableString.Invariant($"the repetition penalty of {_options.RepetitionPenalty:R}"),
        nameof(SamplingOptions.PresencePenalty) => FormattableString.Invariant($"the presence penalty of {_options.PresencePenalty:R}"),
        nameof(SamplingOptions.FrequencyPenalty) => FormattableString.Invariant($"the frequency penalty of {_options.FrequencyPenalty:R}"),
        _ => "the logit bias",
    };

    /// <summary>Sets a logit, and names <paramref name="option"/> as the culprit if it sent a finite logit out of range first.</summary>
    private static void Change(Span<float> logits, int token, float value, string option, ref string? culprit)
    {
        if (culprit is null && float.IsFinite(logits[token]) && !float.IsFinite(value))
        {
            culprit = option;
        }
        logits[token] = value;
    }

    // No logits name no token: 0 would be an id the caller never offered.
    private static void RequireLogits(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("there are no logits to choose a token from", nameof(logits));
        }
    }
}
