namespace Copal.Prune;

/// <summary>
/// SparseGPT could not factor the layer's Hessian: it holds NaN/∞ (the message names the entry; the calibration
/// activations were not finite), or it stays numerically singular with the strongest dampening allowed (the message
/// names the size, the attempts, the last dampening and the failing pivot).
/// </summary>
public sealed class HessianFactorizationException : InvalidOperationException
{
    /// <summary>A failed factorization; <paramref name="message"/> names the size, the attempts, the dampening and the pivot.</summary>
    public HessianFactorizationException(string message) : base(message)
    {
    }

    /// <summary>
    /// <paramref name="innerException"/> with where it happened: the driver prefixes the tensor whose calibration
    /// inputs gave the Hessian, which the factorization does not know.
    /// </summary>
    public HessianFactorizationException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
