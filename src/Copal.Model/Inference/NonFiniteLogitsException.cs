using Copal.Tensors.Numerics;

namespace Copal.Model.Inference;

/// <summary>
/// The forward pass produced NaN or ±Inf logits: whatever came next (a token, a perplexity) would be garbage.
/// The message says at which step of the run, which token id and which value.
/// </summary>
public sealed class NonFiniteLogitsException : InvalidOperationException
{
    private NonFiniteLogitsException(string message) : base(message)
    {
    }

    /// <summary>
    /// Throws when <paramref name="logits"/> (rows of <paramref name="vocab"/>) hold a non-finite value;
    /// <paramref name="where"/> names the step, given the row of the first bad value. Allocation-free when all are finite.
    /// </summary>
    public static void ThrowIfAny(ReadOnlySpan<float> logits, int vocab, Func<int, string> where)
    {
        ArgumentNullException.ThrowIfNull(where);
        int bad = NonFinite.IndexOf(logits);
        if (bad >= 0)
        {
            throw new NonFiniteLogitsException(
                $"non-finite logits {where(bad / vocab)}: {NonFinite.Describe(logits[bad])} for token id {bad % vocab}; " +
                "from NaN/Inf in the weights (if loaded with --allow-nonfinite) or an overflow in the computation");
        }
    }
}
