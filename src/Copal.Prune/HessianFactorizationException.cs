namespace Copal.Prune;

/// <summary>
/// SparseGPT could not factor the layer's Hessian (or its inverse) even with the strongest dampening allowed:
/// the statistics contain NaN/∞ or the matrix is numerically singular. The message names the size, the
/// attempts, the last dampening and the failing pivot.
/// </summary>
public sealed class HessianFactorizationException : InvalidOperationException
{
    /// <summary>A failed factorization; <paramref name="message"/> names the size, the attempts, the dampening and the pivot.</summary>
    public HessianFactorizationException(string message) : base(message)
    {
    }
}
