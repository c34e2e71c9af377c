using System.Numerics;

namespace Copal.Model.Generation;

/// <summary>
/// Finds where a running sum over tokens ranked by probability (descending, the lower id first on ties) crosses a
/// target, without sorting the vocabulary: a selection by partitions, as quickselect, that sums each part as it goes.
/// Top-k, top-p and the draw itself only need the ranked order up to that point, which is a few tokens, while the
/// vocabulary is 32k to 256k; a full sort of it cost more than a decode step of a small model.
/// </summary>
internal static class RankedPrefix
{
    // Below this many candidates the rest is sorted and walked: cheaper than more partitions.
    private const int SortBelow = 32;

    /// <summary>
    /// The position in <paramref name="order"/> of the token at which the sum of the tokens' probabilities (taken in
    /// ranked order) first reaches <paramref name="target"/> (exceeds it when <paramref name="strict"/>);
    /// <paramref name="countOnly"/> counts each token as 1 instead. <paramref name="order"/> is rearranged so that the tokens before that position are the
    /// ones ranked before it. When the sum never gets there (rounding), the last-ranked token's position.
    /// </summary>
    public static int Crossing(Span<int> order, float[] probs, double target, bool strict, bool countOnly)
    {
        if (order.IsEmpty)
        {
            throw new ArgumentException("there are no candidate tokens", nameof(order));
        }
        if (Reaches(0, target, strict))
        {
            // Reached before any token: the first-ranked one.
            int first = 0;
            for (int i = 1; i < order.Length; i++)
            {
                if (RanksBefore(order[i], order[first], probs))
                {
                    first = i;
                }
            }
            (order[0], order[first]) = (order[first], order[0]);
            return 0;
        }
        int lo = 0, hi = order.Length;
        double before = 0;
        // A bad pivot sequence cannot go on for long: past this depth the rest is sorted.
        int depthLeft = 2 * (BitOperations.Log2((uint)order.Length) + 1);
        while (hi - lo > SortBelow && depthLeft-- > 0)
        {
            int pivot = MedianOfThree(order[lo], order[lo + ((hi - lo) / 2)], order[hi - 1], probs);
            // Tokens ranked before the pivot to the front of [lo, hi), the pivot right after them.
            // Without branches (every token swapped, the cursor moved by 0 or 1): on a vocabulary's worth of tokens
            // the branch on the comparison mispredicted about half the time.
            int store = lo;
            double aheadWeight = 0;
            float pivotProb = probs[pivot];
            for (int i = lo; i < hi; i++)
            {
                int t = order[i];
                float q = probs[t];
                int ahead = (q > pivotProb) | ((q == pivotProb) & (t < pivot)) ? 1 : 0;
                order[i] = order[store];
                order[store] = t;
                store += ahead;
                aheadWeight += ahead * (countOnly ? 1.0 : q);
            }
            int at = order[store..hi].IndexOf(pivot) + store;
            (order[store], order[at]) = (order[at], order[store]);
            double pivotWeight = countOnly ? 1 : probs[pivot];
            if (Reaches(before + aheadWeight, target, strict))
            {
                hi = store;
            }
            else if (Reaches(before + aheadWeight + pivotWeight, target, strict))
            {
                return store;
            }
            else
            {
                before += aheadWeight + pivotWeight;
                lo = store + 1;
            }
        }
        // [lo, hi) is never empty: "hi = store" needs weight ahead of the pivot, since the sum before did not reach.
        order[lo..hi].Sort((a, b) => Compare(a, b, probs));
        for (int i = lo; i < hi; i++)
        {
            before += countOnly ? 1 : probs[order[i]];
            if (Reaches(before, target, strict))
            {
                return i;
            }
        }
        return hi - 1;
    }

    /// <summary>
    /// Moves the tokens of <paramref name="order"/> whose probability is at least <paramref name="threshold"/> to its
    /// front and returns how many there are: they rank before all the others.
    /// </summary>
    public static int AtLeast(Span<int> order, float[] probs, float threshold)
    {
        int store = 0;
        for (int i = 0; i < order.Length; i++)
        {
            int t = order[i];
            if (probs[t] >= threshold)
            {
                order[i] = order[store];
                order[store++] = t;
            }
        }
        return store;
    }

    private static bool Reaches(double sum, double target, bool strict) => strict ? sum > target : sum >= target;

    /// <summary>Whether token <paramref name="a"/> ranks before token <paramref name="b"/>: more likely, or as likely with a lower id.</summary>
    private static bool RanksBefore(int a, int b, float[] probs) => probs[a] > probs[b] || (probs[a] == probs[b] && a < b);

    private static int Compare(int a, int b, float[] probs) => probs[b] != probs[a] ? probs[b].CompareTo(probs[a]) : a.CompareTo(b);

    private static int MedianOfThree(int a, int b, int c, float[] probs)
    {
        if (RanksBefore(b, a, probs))
        {
            (a, b) = (b, a);
        }
        if (RanksBefore(c, b, probs))
        {
            (b, c) = (c, b);
            if (RanksBefore(b, a, probs))
            {
                (a, b) = (b, a);
            }
        }
        return b;
    }
}
