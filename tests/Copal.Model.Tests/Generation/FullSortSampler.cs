using System.Numerics.Tensors;
using Copal.Model.Generation;

namespace Copal.Model.Tests.Generation;

/// <summary>
/// The sampler as it was written first, the reference the tests compare <see cref="Sampler"/> with and the baseline
/// of its benchmark: the whole vocabulary sorted by probability (ties by id), then top-k, top-p of what top-k kept,
/// min-p, and the draw walked in that order. The weights are computed as the sampler computes them (the same
/// vectorized exp): what is compared is the ranking, the cut-offs and the draw.
/// </summary>
public sealed class FullSortSampler(SamplingOptions options)
{
    private readonly Pcg32 _rng = new(options.Seed);

    /// <summary>The next token; <paramref name="logits"/> is overwritten.</summary>
    public int Sample(float[] logits)
    {
        int n = logits.Length;
        TensorPrimitives.Subtract(logits, TensorPrimitives.Max(logits), logits);
        TensorPrimitives.Divide(logits, options.Temperature, logits);
        float[] w = new float[n];
        TensorPrimitives.Exp(logits, w);
        int[] order = new int[n];
        for (int i = 0; i < n; i++)
        {
            order[i] = i;
        }
        Array.Sort(order, (a, b) => w[b] != w[a] ? w[b].CompareTo(w[a]) : a.CompareTo(b));
        int keep = options.TopK > 0 ? Math.Min(options.TopK, n) : n;
        if (options.TopP < 1f)
        {
            double total = Mass(order, keep, w), mass = 0;
            for (int i = 0; i < keep; i++)
            {
                mass += w[order[i]];
                if (mass >= options.TopP * total)
                {
                    keep = i + 1;
                    break;
                }
            }
        }
        while (keep > 1 && w[order[keep - 1]] < options.MinP)
        {
            keep--;
        }
        double r = _rng.NextFloat() * Mass(order, keep, w), acc = 0;
        for (int i = 0; i < keep; i++)
        {
            acc += w[order[i]];
            if (r < acc)
            {
                return order[i];
            }
        }
        return order[keep - 1];
    }

    private static double Mass(int[] order, int count, float[] w)
    {
        double mass = 0;
        for (int i = 0; i < count; i++)
        {
            mass += w[order[i]];
        }
        return mass;
    }
}
