using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Copal.Prune.Numerics;

namespace Copal.Prune;

/// <summary>
/// SparseGPT (Frantar and Alistarh, 2023): prunes columns left to right and, after each, corrects the columns
/// still to come with the optimal-brain-surgeon update so the layer's output on the calibration inputs changes
/// as little as possible. Follows the reference step by step (docs/pruning.md), in double:
/// dead inputs, dampening, U = upper Cholesky factor of H⁻¹, blocks of <see cref="SparseGptOptions.BlockSize"/>
/// columns with an unstructured mask of every saliency at or below the one at sorted index ⌊rows·block·s⌋ (the
/// reference's rule: one entry more than ⌊rows·block·s⌋ where that saliency is unique; exactly ⌊rows·block·s⌋ with
/// <see cref="SparseGptOptions.ExactCount"/>) or N:M chosen on the updated weights, error propagation inside the
/// block and the lazy batch update after it. Linears pruned with the same <see cref="InputStatistics"/> (q/k/v, gate/up)
/// share U: it is factored once, kept while the statistics live, and let go by <see cref="ReleaseStatistics"/>.
/// </summary>
public sealed class SparseGptPruner : IPruningMethod
{
    // Columns per chunk of the lazy update: the chunk of U (block × chunk doubles) stays in L2 for all rows.
    private const int LazyChunk = 512;

    /// <summary>Creates the pruner; the options are validated here.</summary>
    /// <exception cref="PruningOptionException">An option is out of range.</exception>
    public SparseGptPruner(SparseGptOptions? options = null)
    {
        Options = options ?? new SparseGptOptions();
        Options.Validate();
    }

    /// <summary>The settings in force (the reference's defaults when none were given).</summary>
    public SparseGptOptions Options { get; }

    /// <inheritdoc/>
    public string Name => "sparsegpt";

    /// <inheritdoc/>
    public bool NeedsHessian => true;

    /// <summary>The dampening fraction that succeeded in the last call (more than PercentDamp when retries were needed).</summary>
    public double LastPercentDamp { get; private set; }

    // The factor of each statistics' Hessian, kept for the other linears that read the same input: the driver gives
    // q/k/v one statistics object and gate/up another, so a layer factors 4 Hessians, not 7 (U from H is O(cols³),
    // 25 s at 5632 columns on two cores). Weakly keyed, so a factor lives no longer than its statistics, and dropped at
    // once when the caller releases them after their last linear (ReleaseStatistics). Factoring is deterministic (each
    // entry is one task's fixed-order sum), so a kept U is the U each linear would have factored, to the bit.
    private readonly ConditionalWeakTable<InputStatistics, FactoredInput> _factors = new();

    // How many Hessians this pruner has factored (tests count them per layer).
    private int _factorizations;

    /// <summary>How many Hessians this pruner has factored so far.</summary>
    internal int Factorizations => Volatile.Read(ref _factorizations);

    // A factor with the fold it was made from: statistics folded into since (AddSequence, Merge change Sequences) are
    // another Hessian.
    private sealed record FactoredInput(int Sequences, long Tokens, SweepFactor Factor);

    /// <inheritdoc/>
    public LinearPruneResult Prune(Span<float> weight, int rows, int cols, InputStatistics? stats, SparsityPattern pattern,
        CancellationToken cancellationToken = default)
    {
        float[] original = weight.ToArray();
        double[] w = PruneToDouble(original, rows, cols, stats, pattern, cancellationToken, out _);
        for (int i = 0; i < w.Length; i++)
        {
            weight[i] = (float)w[i];
        }
        double error = ReconstructionError.Compute(original, weight, rows, cols, stats!.Hessian, cancellationToken);
        return new LinearPruneResult(SparsityCheck.CountZeros(weight), (long)rows * cols, error);
    }

    /// <summary>The whole algorithm in double; <paramref name="pruneMask"/> [rows, cols] says which entries it pruned.</summary>
    internal double[] PruneToDouble(float[] weight, int rows, int cols, InputStatistics? stats, SparsityPattern pattern,
        CancellationToken cancellationToken, out bool[] pruneMask)
    {
        PruneArguments.Check(Name, weight.Length, rows, cols, stats, pattern, needsStats: true, needsHessian: true);
        CheckSweep(weight, cols, pattern);
        return Sweep(weight, rows, FactorOf(stats!, cancellationToken), pattern, cancellationToken, out pruneMask);
    }

    /// <inheritdoc/>
    public void ReleaseStatistics(InputStatistics statistics)
    {
        ArgumentNullException.ThrowIfNull(statistics);
        _factors.Remove(statistics);
    }

    // U of the statistics' Hessian with this pruner's dampening: the one kept for them, or made now and kept. A
    // factorization that fails or is cancelled keeps nothing (the next call tries again).
    private SweepFactor FactorOf(InputStatistics stats, CancellationToken cancellationToken)
    {
        if (_factors.TryGetValue(stats, out FactoredInput? kept))
        {
            if (kept.Sequences == stats.Sequences && kept.Tokens == stats.Tokens)
            {
                return kept.Factor;
            }
            _factors.Remove(stats); // the stale factor may go before the new one is made
        }
        SweepFactor factor = SweepFactor.Compute((double[])stats.Hessian.Clone(), stats.Columns, Options, cancellationToken);
        Interlocked.Increment(ref _factorizations);
        _factors.AddOrUpdate(stats, new FactoredInput(stats.Sequences, stats.Tokens, factor));
        return factor;
    }

    /// <summary>
    /// The sweep with the Hessian already factored (its dampening is the factor's, not <see cref="Options"/>'):
    /// COPAL factors an input group's Hessian once for all its linears.
    /// </summary>
    internal double[] PruneToDouble(float[] weight, int rows, int cols, SweepFactor factor, SparsityPattern pattern,
        CancellationToken cancellationToken, out bool[] pruneMask)
    {
        CheckSweep(weight, cols, pattern);
        if (factor.Dead.Length != cols || weight.Length != (long)rows * cols)
        {
            throw new PruningShapeException($"the factor is for {factor.Dead.Length} inputs and the weight has {weight.Length} entries, expected {cols} inputs and {rows}×{cols}", nameof(factor));
        }
        return Sweep(weight, rows, factor, pattern, cancellationToken, out pruneMask);
    }

    // The checked weights swept with the factor, in double.
    private double[] Sweep(float[] weight, int rows, SweepFactor factor, SparsityPattern pattern, CancellationToken cancellationToken, out bool[] pruneMask)
    {
        int cols = factor.Dead.Length;
        var w = new double[weight.Length];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = weight[i];
        }
        // An input that is always zero carries no information: the reference zeroes its weights.
        factor.ZeroDeadInputs(w, rows);
        LastPercentDamp = factor.PercentDamp;
        pruneMask = new bool[w.Length];
        PruneBlocks(w, rows, cols, factor.U, pattern, Options.BlockSize, Options.ExactCount, pruneMask, cancellationToken);
        return w;
    }

    private void CheckSweep(float[] weight, int cols, SparsityPattern pattern)
    {
        PruneArguments.CheckFinite(Name, weight, cols);
        CheckPattern(pattern);
    }

    /// <inheritdoc/>
    public void CheckPattern(SparsityPattern pattern) => Options.CheckPattern(pattern);

    /// <summary>Steps 5 of the algorithm on W [rows, cols] (double, in place) given U.</summary>
    internal static void PruneBlocks(double[] w, int rows, int cols, double[] u, SparsityPattern pattern, int blockSize, bool exactCount,
        bool[] pruneMask, CancellationToken cancellationToken)
    {
        var diagU = new double[cols];
        for (int i = 0; i < cols; i++)
        {
            diagU[i] = u[((long)i * cols) + i];
        }
        int width = Math.Min(blockSize, cols);
        var err = new double[rows * width];
        var blockMask = new bool[rows * width];
        double[]? saliency = pattern is SparsityPattern.Unstructured ? new double[rows * width] : null;
        for (int i1 = 0; i1 < cols; i1 += blockSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int i2 = Math.Min(i1 + blockSize, cols), bw = i2 - i1;
            Array.Clear(blockMask);
            // The reference's rule (ALGORITHMS.md): every saliency at or below the one at sorted index ⌊rows·bw·s⌋, so one
            // entry more than ⌊rows·bw·s⌋ where that saliency is unique; or exactly ⌊rows·bw·s⌋ (ExactCount). Sparsity 0
            // prunes nothing (the rule would take each block's lowest).
            if (pattern is SparsityPattern.Unstructured { Ratio: > 0 } unstructured)
            {
                long rank = unstructured.CountFor((long)rows * bw);
                for (int r = 0; r < rows; r++)
                {
                    for (int c = 0; c < bw; c++)
                    {
                        double v = w[((long)r * cols) + i1 + c], d = diagU[i1 + c];
                        saliency![(r * bw) + c] = v * v / (d * d);
                    }
                }
                if (exactCount)
                {
                    MaskSelection.PruneLowestGlobal(saliency.AsSpan(0, rows * bw), rank, blockMask.AsSpan(0, rows * bw));
                }
                else
                {
                    MaskSelection.PruneAtOrBelowRank(saliency.AsSpan(0, rows * bw), rank, blockMask.AsSpan(0, rows * bw));
                }
            }
            var nm = pattern as SparsityPattern.NM;
            RowPartition.For(rows, 8, (r0, r1) =>
            {
                Span<double> group = stackalloc double[nm?.M ?? 1];
                for (int r = r0; r < r1; r++)
                {
                    Span<double> wr = w.AsSpan(r * cols, cols);
                    Span<bool> mr = blockMask.AsSpan(r * bw, bw);
                    for (int i = 0; i < bw; i++)
                    {
                        int col = i1 + i;
                        if (nm is not null && i % nm.M == 0)
                        {
                            for (int k = 0; k < nm.M; k++)
                            {
                                double v = wr[col + k], d = diagU[col + k];
                                group[k] = v * v / (d * d);
                            }
                            MaskSelection.SelectLowestInGroup(group, nm.N, mr.Slice(i, nm.M));
                        }
                        double wv = wr[col];
                        double q = mr[i] ? 0.0 : wv;
                        double e = (wv - q) / diagU[col];
                        err[(r * bw) + i] = e;
                        wr[col] = q;
                        if (e != 0)
                        {
                            SubtractScaled(wr[(col + 1)..i2], e, u.AsSpan((col * cols) + col + 1, i2 - col - 1));
                        }
                    }
                }
                for (int c0 = i2; c0 < cols; c0 += LazyChunk)
                {
                    int len = Math.Min(LazyChunk, cols - c0);
                    for (int r = r0; r < r1; r++)
                    {
                        Span<double> target = w.AsSpan((r * cols) + c0, len);
                        for (int i = 0; i < bw; i++)
                        {
                            double e = err[(r * bw) + i];
                            if (e != 0)
                            {
                                SubtractScaled(target, e, u.AsSpan(((i1 + i) * cols) + c0, len));
                            }
                        }
                    }
                }
            }, cancellationToken);
            for (int r = 0; r < rows; r++)
            {
                blockMask.AsSpan(r * bw, bw).CopyTo(pruneMask.AsSpan((r * cols) + i1, bw));
            }
        }
    }

    // target[k] -= e·u[k], as a separate multiply and subtract (no fused multiply-add) so the result is
    // bit-identical to the reference's 'W -= outer(err, U)'.
    private static void SubtractScaled(Span<double> target, double e, ReadOnlySpan<double> u)
    {
        int k = 0;
        if (Vector.IsHardwareAccelerated && target.Length >= Vector<double>.Count)
        {
            var ev = new Vector<double>(e);
            Span<Vector<double>> tv = MemoryMarshal.Cast<double, Vector<double>>(target);
            ReadOnlySpan<Vector<double>> uv = MemoryMarshal.Cast<double, Vector<double>>(u[..target.Length]);
            for (int v = 0; v < tv.Length; v++)
            {
                tv[v] -= ev * uv[v];
            }
            k = tv.Length * Vector<double>.Count;
        }
        for (; k < target.Length; k++)
        {
            target[k] -= e * u[k];
        }
    }
}
