namespace Copal.Prune.Continual.Protocol;

/// <summary>
/// The metrics of the continual protocol (../ALGORITHMS.md, "Continual protocol"), all in log space (per-token NLL,
/// natural log) so no dataset weighs more because its perplexity is high; lower is better for all. R[t][i] is the
/// perplexity on dataset i after step t, 0-based (R[T, i] in the formulas is R[T−1][i]). A value that cannot be
/// formed (a non-finite or non-positive perplexity, too few steps, no joint reference) is null, never NaN.
/// </summary>
internal static class ContinualMetrics
{
    /// <summary>final_gm_ratio = exp((1/T)·Σ_i log(R[T, i] / dense_i)): the geometric-mean perplexity ratio to the dense model after the last step.</summary>
    public static double? FinalGmRatio(double[][] r, IReadOnlyList<double> dense)
    {
        Check(r, dense);
        int t = r.Length;
        double sum = 0;
        for (int i = 0; i < t; i++)
        {
            sum += LogRatio(r[t - 1][i], dense[i]);
        }
        return Finite(Math.Exp(sum / t));
    }

    /// <summary>aia_gm_ratio = exp((1/T)·Σ_t (1/t)·Σ_{i≤t} log(R[t, i] / dense_i)): every step's model counts.</summary>
    public static double? AiaGmRatio(double[][] r, IReadOnlyList<double> dense)
    {
        Check(r, dense);
        int steps = r.Length;
        double outer = 0;
        for (int t = 0; t < steps; t++)
        {
            double inner = 0;
            for (int i = 0; i <= t; i++)
            {
                inner += LogRatio(r[t][i], dense[i]);
            }
            outer += inner / (t + 1);
        }
        return Finite(Math.Exp(outer / steps));
    }

    /// <summary>
    /// forgetting_log = 1/(T−1)·Σ_{i&lt;T} (log R[T, i] − min_{l&lt;T} log R[l, i]): the loss against the best earlier
    /// value of each dataset (any earlier step, as ALGORITHMS.md fixes it); null for T = 1.
    /// </summary>
    public static double? ForgettingLog(double[][] r)
    {
        ArgumentNullException.ThrowIfNull(r);
        int steps = r.Length;
        if (steps < 2)
        {
            return null;
        }
        double sum = 0;
        for (int i = 0; i < steps - 1; i++)
        {
            double best = double.PositiveInfinity;
            for (int l = 0; l < steps - 1; l++)
            {
                best = Math.Min(best, Log(r[l][i]));
            }
            sum += Log(r[steps - 1][i]) - best;
        }
        return Finite(sum / (steps - 1));
    }

    /// <summary>
    /// intransigence_log = (1/T)·Σ_i (log R[i, i] − log R_joint[i, i]): how far a method is, on the dataset it just
    /// met, from what pooled calibration reached there; null without a joint reference.
    /// </summary>
    public static double? IntransigenceLog(double[][] r, double[][]? joint)
    {
        ArgumentNullException.ThrowIfNull(r);
        if (joint is null)
        {
            return null;
        }
        if (joint.Length != r.Length)
        {
            throw new ArgumentException($"the joint reference has {joint.Length} steps, the variant {r.Length}", nameof(joint));
        }
        double sum = 0;
        for (int i = 0; i < r.Length; i++)
        {
            sum += Log(r[i][i]) - Log(joint[i][i]);
        }
        return Finite(sum / r.Length);
    }

    /// <summary>The classic BWT in perplexity, 1/(T−1)·Σ_{i&lt;T} (R[T, i] − R[i, i]); null for T = 1.</summary>
    public static double? Bwt(double[][] r)
    {
        ArgumentNullException.ThrowIfNull(r);
        int t = r.Length;
        if (t < 2)
        {
            return null;
        }
        double sum = 0;
        for (int i = 0; i < t - 1; i++)
        {
            sum += r[t - 1][i] - r[i][i];
        }
        return Finite(sum / (t - 1));
    }

    /// <summary>Σ_i R[T, i] / T (the arithmetic mean of the final perplexities; dominated by the high ones).</summary>
    public static double? FinalAverage(double[][] r)
    {
        ArgumentNullException.ThrowIfNull(r);
        return Finite(r[^1].Average());
    }

    /// <summary>
    /// The precondition of a data-dependent reset baseline: for every dataset i &gt; 1 (0-based i ≥ 1), whether
    /// calibrating on D_i helped D_i, R_reset[i, i] &lt; R_reset[1, i]. Returns the 0-based indices where it fails.
    /// </summary>
    public static IReadOnlyList<int> PreconditionFailures(double[][] reset)
    {
        ArgumentNullException.ThrowIfNull(reset);
        var failed = new List<int>();
        for (int i = 1; i < reset.Length; i++)
        {
            if (!(reset[i][i] < reset[0][i]))
            {
                failed.Add(i);
            }
        }
        return failed;
    }

    /// <summary>The element-wise geometric mean of several R matrices (one per seed), for the figures.</summary>
    public static double[][] GeometricMean(IReadOnlyList<double[][]> runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        if (runs.Count == 0)
        {
            throw new ArgumentException("no runs to average", nameof(runs));
        }
        return runs[0].Select((row, t) => row.Select((_, i) => Math.Exp(runs.Average(run => Log(run[t][i])))).ToArray()).ToArray();
    }

    private static double Log(double ppl) => ppl > 0 ? Math.Log(ppl) : double.NaN;

    private static double LogRatio(double ppl, double dense) => Log(ppl) - Log(dense);

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private static void Check(double[][] r, IReadOnlyList<double> dense)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(dense);
        if (r.Length == 0 || r.Any(row => row.Length != dense.Count) || r.Length != dense.Count)
        {
            throw new ArgumentException($"R must be [T][T] with T = {dense.Count} datasets, got {r.Length} rows", nameof(r));
        }
    }
}
