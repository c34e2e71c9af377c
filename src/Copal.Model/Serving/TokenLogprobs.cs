namespace Copal.Model.Serving;

/// <summary>Log-probabilities of a decode step's tokens from its logits: the log-softmax, summed in double.</summary>
internal static class TokenLogprobs
{
    /// <summary>
    /// The log-probability of <paramref name="chosen"/> and the <paramref name="top"/> most likely tokens (the most
    /// likely first, ties by lower id) under the softmax of <paramref name="logits"/>, which must be finite or −∞.
    /// </summary>
    public static ChosenLogprobs Of(ReadOnlySpan<float> logits, int chosen, int top)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits)
        {
            max = MathF.Max(max, l);
        }
        double sum = 0;
        foreach (float l in logits)
        {
            sum += Math.Exp(l - max);
        }
        // log Σ exp(l) = max + log Σ exp(l − max): no overflow for large logits.
        double logSum = max + Math.Log(sum);
        // The top few by insertion into a short sorted list: most logits fall below its last entry and cost one compare.
        var best = new List<int>(top + 1);
        for (int id = 0; id < logits.Length && top > 0; id++)
        {
            if (best.Count == top && !(logits[id] > logits[best[^1]]))
            {
                continue;
            }
            int at = best.Count;
            while (at > 0 && logits[id] > logits[best[at - 1]])
            {
                at--;
            }
            best.Insert(at, id);
            if (best.Count > top)
            {
                best.RemoveAt(top);
            }
        }
        var alternatives = new TokenLogprob[best.Count];
        for (int i = 0; i < best.Count; i++)
        {
            alternatives[i] = new TokenLogprob(best[i], (float)(logits[best[i]] - logSum));
        }
        return new ChosenLogprobs(new TokenLogprob(chosen, (float)(logits[chosen] - logSum)), alternatives);
    }
}
