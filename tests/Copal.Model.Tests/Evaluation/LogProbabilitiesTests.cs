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

    /// <summary>
    /// Rows 8 apart are one distribution, so their KL is 0; summed term by term in double it comes to −4.4e-16, and a
    /// divergence is never negative, so it is clamped.
    /// </summary>
    [Fact]
    public void Kl_divergence_of_a_shifted_row_is_not_negative()
    {
        float[] p = [0f, 3f, 1.5f, 3f], q = [8f, 11f, 9.5f, 11f];
        Assert.InRange(LogProbabilities.KlDivergence(p, q), 0, Tolerances.KernelAbsolute);
    }

    /// <summary>−log p(target): softmax(0, ln 3) gives the second token ¾, so its NLL is ln 4/3.</summary>
    [Fact]
    public void Nll_is_minus_the_log_softmax_of_the_target()
    {
        float[] logits = [0f, MathF.Log(3f)];
        AssertRelative(Math.Log(4.0 / 3), LogProbabilities.Nll(logits, 1));
        AssertRelative(Math.Log(4.0), LogProbabilities.Nll(logits, 0));
    }

    /// <summary>
    /// Rows that do not fit the call are refused naming the argument, with the lengths: a target outside the row was an
    /// IndexOutOfRangeException, and a model row longer than the base row gave a number (the KL over the base's
    /// tokens against a softmax over all of the model's) where no KL is defined.
    /// </summary>
    [Fact]
    public void Rows_that_do_not_fit_are_refused_naming_the_argument()
    {
        float[] four = [1f, 2f, 3f, 4f], three = [1f, 2f, 3f];
        foreach (int target in new[] { -1, 4 })
        {
            ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => LogProbabilities.Nll(four, target));
            Assert.Equal("target", e.ParamName);
            Assert.Contains("4 logits", e.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', e.Message);
        }
        foreach ((float[] baseRow, float[] row) in new[] { (four, three), (three, four) })
        {
            ArgumentException e = Assert.Throws<ArgumentException>(() => LogProbabilities.KlDivergence(baseRow, row));
            Assert.Equal("logits", e.ParamName);
            Assert.Contains($"{baseRow.Length} logits", e.Message, StringComparison.Ordinal);
            Assert.Contains($"{row.Length}", e.Message, StringComparison.Ordinal);
        }
        Assert.Equal("logits", Assert.Throws<ArgumentException>(() => LogProbabilities.LogSumExp([])).ParamName);
    }

    private static void AssertRelative(double expected, double actual) =>
        Assert.True(Math.Abs(actual - expected) <= Tolerances.KernelRelative * Math.Abs(expected), $"{actual:R}, expected {expected:R}");
}
