namespace Copal.Model.Evaluation;

/// <summary>Log-softmax arithmetic on one row of logits, in double so long sums stay exact enough.</summary>
public static class LogProbabilities
{
    /// <summary>log Σ exp(logits), computed stably.</summary>
    public static double LogSumExp(ReadOnlySpan<float> logits)
    {
        float max = float.NegativeInfinity;
        foreach (float v in logits)
        {
            max = MathF.Max(max, v);
        }
        double sum = 0;
        foreach (float v in logits)
        {
            sum += Math.Exp((double)v - max);
        }
        return max + Math.Log(sum);
    }

    /// <summary>−log p(target) under softmax(logits).</summary>
    public static double Nll(ReadOnlySpan<float> logits, int target) => LogSumExp(logits) - logits[target];

    /// <summary>KL(p ‖ q) for p = softmax(baseLogits), q = softmax(logits).</summary>
    public static double KlDivergence(ReadOnlySpan<float> baseLogits, ReadOnlySpan<float> logits)
    {
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
