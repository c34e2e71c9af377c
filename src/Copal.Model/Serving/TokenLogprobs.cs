using Copal.Model.Evaluation;

namespace Copal.Model.Serving;

/// <summary>Log-probabilities of a step's tokens from its logits: the log-softmax (<see cref="LogProbabilities.LogSumExp"/>), and the likeliest few.</summary>
internal static class TokenLogprobs
{
    /// <summary>
    /// The log-probability of <paramref name="chosen"/> and the <paramref name="top"/> most likely tokens (the most
    /// likely first, ties by lower id) under the softmax of <paramref name="logits"/>, which must be finite or −∞.
    /// </summary>
    public static ChosenLogprobs Of(ReadOnlySpan<float> logits, int chosen, int top)
    {
        double logSum = LogProbabilities.LogSumExp(logits);
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
