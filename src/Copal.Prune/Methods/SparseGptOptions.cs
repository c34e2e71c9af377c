namespace Copal.Prune;

/// <summary>SparseGPT settings (defaults are the reference's).</summary>
/// <param name="BlockSize">Columns per lazy-update block (reference: 128). Must be a multiple of M for N:M.</param>
/// <param name="PercentDamp">Dampening added to the Hessian diagonal, as a fraction of its mean (reference: 0.01).</param>
/// <param name="MaxDampRetries">
/// How many times to retry with stronger dampening when a Cholesky factorization fails: retry k (1-based) uses
/// max(PercentDamp, 0.01)·10^k of the mean diagonal.
/// </param>
/// <param name="ExactCount">
/// Unstructured: prune exactly ⌊size·s⌋ entries a block, the sparsity asked for, instead of the reference's every
/// saliency at or below the one at sorted index ⌊size·s⌋ (one entry more where it is unique). COPAL's OBS mask uses
/// it; SparseGPT itself follows its reference (ALGORITHMS.md).
/// </param>
public sealed record SparseGptOptions(int BlockSize = 128, double PercentDamp = 0.01, int MaxDampRetries = 8, bool ExactCount = false)
{
    /// <summary>
    /// Refuses an N:M pattern whose groups would straddle two blocks: SparseGPT chooses each row's N of M inside a
    /// block, so M must divide <see cref="BlockSize"/>. The refusal names the pattern, which is what a user chooses.
    /// </summary>
    /// <exception cref="PruningOptionException">M does not divide the block size.</exception>
    public void CheckPattern(SparsityPattern pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern is SparsityPattern.NM nm && BlockSize % nm.M != 0)
        {
            throw new PruningOptionException("pattern", nm.ToString(), System.FormattableString.Invariant(
                $"an N:M pattern whose M divides SparseGPT's block of {BlockSize} columns (e.g. 2:4 or 4:8), so that no group straddles two blocks"));
        }
    }

    /// <summary>Throws a <see cref="PruningOptionException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (BlockSize <= 0)
        {
            throw new PruningOptionException("blocksize", BlockSize.ToString(System.Globalization.CultureInfo.InvariantCulture), "a positive number of columns (e.g. 128)");
        }
        if (!(PercentDamp >= 0 && double.IsFinite(PercentDamp)))
        {
            throw new PruningOptionException("percdamp", PercentDamp.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "a finite fraction ≥ 0 (e.g. 0.01)");
        }
        if (MaxDampRetries < 0)
        {
            throw new PruningOptionException("damp-retries", MaxDampRetries.ToString(System.Globalization.CultureInfo.InvariantCulture), "a count ≥ 0");
        }
    }

    /// <summary>The dampening fraction of attempt <paramref name="attempt"/> (0 = first try).</summary>
    public double DampFor(int attempt)
        => attempt == 0 ? PercentDamp : Math.Max(PercentDamp, 0.01) * Math.Pow(10, attempt);
}
