using Copal.Model.Evaluation;
using Copal.Testing;

namespace Copal.Model.Tests.Evaluation;

/// <summary>The log-softmax arithmetic on rows small enough to work out by hand.</summary>
public sealed class LogProbabilitiesTests
{
    /// <summary>
    /// p = softmax(0, 0) = (½, ½), q = softmax(0, ln 3) = (¼, ¾): KL(p ‖ q) = ½ ln 2 + ½ ln ⅔ ≈ 0.143841, and the other
    /// direction, KL(q ‖ p) = ¼ ln ½ + ¾ ln 3/2 ≈ 0.130812, is a different number, so the direction is checked.
    /// </summary>
    [Fact]
    public void Kl_divergence_is_of_the_base_from_the_model()
    {
        float[] p = [0f, 0f], q = [0f, MathF.Log(3f)];
        AssertRelative(0.5 * Math.Log(2) + 0.5 * Math.Log(2.0 / 3), LogProbabilities.KlDivergence(p, q));
        AssertRelative(0.25 * Math.Log(0.5) + 0.75 * Math.Log(1.5), LogProbabilities.KlDivergence(q, p));
        Assert.InRange(LogProbabilities.KlDivergence(q, q), 0, Tolerances.KernelAbsolute);
    }

    /// <summary>−log p(target): softmax(0, ln 3) gives the second token ¾, so its NLL is ln 4/3.</summary>
    [Fact]
    public void Nll_is_minus_the_log_softmax_of_the_target()
    {
        float[] logits = [0f, MathF.Log(3f)];
        AssertRelative(Math.Log(4.0 / 3), LogProbabilities.Nll(logits, 1));
        AssertRelative(Math.Log(4.0), LogProbabilities.Nll(logits, 0));
    }

    private static void AssertRelative(double expected, double actual) =>
        Assert.True(Math.Abs(actual - expected) <= Tolerances.KernelRelative * Math.Abs(expected), $"{actual:R}, expected {expected:R}");
}
