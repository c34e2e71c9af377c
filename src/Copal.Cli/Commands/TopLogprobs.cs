using Copal.Model.Evaluation;

namespace Copal.Cli.Commands;

/// <summary>
/// The k most likely tokens of one row of logits, for <c>copal logits --top-k</c>, found without sorting or copying
/// the row: a vocabulary of 128k tokens over a text of a few thousand positions would otherwise put several copies of
/// positions × vocab floats on the heap for an answer of positions × k.
/// </summary>
internal static class TopLogprobs
{
    // The root of the heap is the worst of the best so far: the lower logit, and of equal logits the higher id.
    private static readonly Comparer<(float Logit, int Id)> s_worstFirst =
        Comparer<(float Logit, int Id)>.Create((a, b) => a.Logit != b.Logit ? a.Logit.CompareTo(b.Logit) : b.Id.CompareTo(a.Id));

    /// <summary>
    /// The <paramref name="k"/> (≥ 1) most likely ids of <paramref name="row"/>, the likeliest first and ties by lower
    /// id, each with its log-probability under the row's softmax; the row must hold no NaN.
    /// </summary>
    public static (int Id, double Logprob)[] Of(ReadOnlySpan<float> row, int k)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        double lse = LogProbabilities.LogSumExp(row);
        var best = new PriorityQueue<int, (float Logit, int Id)>(Math.Min(k, row.Length) + 1, s_worstFirst);
        for (int id = 0; id < row.Length; id++)
        {
            if (best.Count < k)
            {
                best.Enqueue(id, (row[id], id));
            }
            // Ids come in ascending order, so an equal logit is a later id and never better: most logits cost one compare.
            else if (best.TryPeek(out _, out (float Logit, int Id) worst) && row[id] > worst.Logit)
            {
                best.EnqueueDequeue(id, (row[id], id));
            }
        }
        var top = new (int Id, double Logprob)[best.Count];
        for (int i = top.Length - 1; i >= 0; i--)
        {
            int id = best.Dequeue();
            top[i] = (id, row[id] - lse);
        }
        return top;
    }
}
