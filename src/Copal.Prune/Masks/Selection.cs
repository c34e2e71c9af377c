namespace Copal.Prune;

/// <summary>Order statistics without a full sort.</summary>
internal static class Selection
{
    /// <summary>
    /// The k-th smallest value (0-based) of <paramref name="values"/>, which it reorders. Quickselect with a
    /// three-way partition, so runs of equal values (many zeros, repeated weights) cost O(len), and a
    /// median-of-three pivot, so sorted input does not degrade it.
    /// </summary>
    public static double KthSmallest(Span<double> values, int k)
    {
        int lo = 0, hi = values.Length - 1;
        while (true)
        {
            if (lo == hi)
            {
                return values[lo];
            }
            double pivot = MedianOfThree(values[lo], values[lo + ((hi - lo) >> 1)], values[hi]);
            // Dutch national flag: [lo, lt) < pivot, [lt, i) == pivot, (gt, hi] > pivot.
            int lt = lo, i = lo, gt = hi;
            while (i <= gt)
            {
                double v = values[i];
                if (v < pivot)
                {
                    (values[lt], values[i]) = (values[i], values[lt]);
                    lt++;
                    i++;
                }
                else if (v > pivot)
                {
                    (values[gt], values[i]) = (values[i], values[gt]);
                    gt--;
                }
                else
                {
                    i++;
                }
            }
            if (k < lt)
            {
                hi = lt - 1;
            }
            else if (k > gt)
            {
                lo = gt + 1;
            }
            else
            {
                return pivot;
            }
        }
    }

    private static double MedianOfThree(double a, double b, double c)
        => a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
}
