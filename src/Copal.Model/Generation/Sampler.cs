namespace Copal.Model.Generation;

/// <summary>Chooses the next token from a row of logits under <see cref="SamplingOptions"/>.</summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Pcg32 _rng;
    private int[] _order = [];
    private float[] _probs = [];

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
    }

    /// <summary>
    /// The next token. <paramref name="logits"/> is modified (penalty, temperature); <paramref name="context"/> holds
    /// the tokens seen so far, for the repetition penalty.
    /// </summary>
    public int Sample(Span<float> logits, ReadOnlySpan<int> context)
    {
        RequireLogits(logits);
        if (_options.RepetitionPenalty != 1f)
        {
            ApplyRepetitionPenalty(logits, context, _options.RepetitionPenalty);
        }
        if (_options.Temperature == 0f)
        {
            return ArgMax(logits);
        }
        int n = logits.Length;
        if (_probs.Length != n)
        {
            _probs = new float[n];
            _order = new int[n];
        }
        // The maximum comes off before the division: logit / T overflows to ±Inf for a tiny T (1e-38), and Inf − Inf
        // made every probability NaN. (l − max) / T is ≤ 0, so a tiny T sends all but the maxima to −Inf: greedy.
        float max = float.NegativeInfinity;
        for (int i = 0; i < n; i++)
        {
            max = MathF.Max(max, logits[i]);
        }
        for (int i = 0; i < n; i++)
        {
            logits[i] = (logits[i] - max) / _options.Temperature;
        }
        double sum = 0;
        for (int i = 0; i < n; i++)
        {
            _probs[i] = MathF.Exp(logits[i]);
            sum += _probs[i];
            _order[i] = i;
        }
        // Sort candidates by probability, descending; ties by id so the order is deterministic.
        float[] probs = _probs;
        Array.Sort(_order, (a, b) => probs[b] != probs[a] ? probs[b].CompareTo(probs[a]) : a.CompareTo(b));
        int keep = n;
        if (_options.TopK > 0)
        {
            keep = Math.Min(keep, _options.TopK);
        }
        if (_options.TopP < 1f)
        {
            double mass = 0;
            for (int i = 0; i < keep; i++)
            {
                mass += probs[_order[i]] / sum;
                if (mass >= _options.TopP)
                {
                    keep = i + 1;
                    break;
                }
            }
        }
        double kept = 0;
        for (int i = 0; i < keep; i++)
        {
            kept += probs[_order[i]];
        }
        double r = _rng.NextFloat() * kept;
        double acc = 0;
        for (int i = 0; i < keep; i++)
        {
            acc += probs[_order[i]];
            if (r < acc)
            {
                return _order[i];
            }
        }
        return _order[keep - 1];
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
    private static void ApplyRepetitionPenalty(Span<float> logits, ReadOnlySpan<int> context, float penalty)
    {
        var seen = new HashSet<int>();
        foreach (int t in context)
        {
            if ((uint)t < (uint)logits.Length && seen.Add(t))
            {
                logits[t] = logits[t] < 0 ? logits[t] * penalty : logits[t] / penalty;
            }
        }
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
