using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Copal.Model.Evaluation;

/// <summary>Log-softmax arithmetic on one row of logits, in double so long sums stay exact enough.</summary>
internal static class LogProbabilities
{
    /// <summary>log Σ exp(logits), computed stably, every term in double (sixteen at a time where the CPU has the lanes).</summary>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is empty.</exception>
    public static double LogSumExp(ReadOnlySpan<float> logits)
    {
        if (logits.IsEmpty)
        {
            throw new ArgumentException("a row of logits needs at least one", nameof(logits));
        }
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512<double> vmax = Vector512.Create((double)max), vsum = Vector512<double>.Zero;
            for (; i + 16 <= logits.Length; i += 16)
            {
                (Vector512<double> lower, Vector512<double> upper) = Vector512.Widen(Vector512.Create(logits.Slice(i, 16)));
                vsum += Vector512.Exp(lower - vmax) + Vector512.Exp(upper - vmax);
            }
            sum = Vector512.Sum(vsum);
        }
        for (; i < logits.Length; i++)
        {
            sum += Math.Exp((double)logits[i] - max);
        }
        return max + Math.Log(sum);
    }

    /// <summary>−log p(target) under softmax(logits).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="target"/> is not an index of <paramref name="logits"/>.</exception>
    public static double Nll(ReadOnlySpan<float> logits, int target)
    {
        if ((uint)target >= (uint)logits.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(target), FormattableString.Invariant($"target {target} is outside the row's {logits.Length} logits: expected 0 to {logits.Length - 1}"));
        }
        return LogSumExp(logits) - logits[target];
    }

    /// <summary>KL(p ‖ q) for p = softmax(baseLogits), q = softmax(logits).</summary>
    /// <exception cref="ArgumentException">The rows differ in length: they are not distributions over one vocabulary.</exception>
    public static double KlDivergence(ReadOnlySpan<float> baseLogits, ReadOnlySpan<float> logits)
    {
        if (logits.Length != baseLogits.Length)
        {
            throw new ArgumentException(FormattableString.Invariant($"baseLogits has {baseLogits.Length} logits and logits {logits.Length}: a KL divergence compares two distributions over one vocabulary"), nameof(logits));
        }
        double lseP = LogSumExp(baseLogits);
        double lseQ = LogSumExp(logits);
        double kl = 0;
        for (int i = 0; i < baseLogits.Length; i++)
        {
            double logP = baseLogits[i] - lseP;
            double logQ = logits[i] - lseQ;
            kl += Math.Exp(logP) * (logP - logQ);
        }
        return Math.Max(0, kl);
    }
}
