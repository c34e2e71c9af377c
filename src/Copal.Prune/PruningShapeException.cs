namespace Copal.Prune;

/// <summary>
/// A weight matrix or statistics object does not fit what the pruning method was asked to do
/// (wrong length, wrong column count, a dimension not divisible by M for N:M). The message names the
/// argument and both the expected and the actual value.
/// </summary>
public sealed class PruningShapeException : ArgumentException
{
    /// <summary>A shape mismatch of argument <paramref name="paramName"/>; <paramref name="message"/> gives the expected and actual value.</summary>
    public PruningShapeException(string message, string paramName) : base(message, paramName)
    {
    }
}
