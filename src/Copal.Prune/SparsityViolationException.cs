namespace Copal.Prune;

/// <summary>
/// A weight matrix does not satisfy the sparsity it should have; the message names the row and, for N:M,
/// the group (its column range) with the zero count found and the count required.
/// </summary>
public sealed class SparsityViolationException : InvalidOperationException
{
    /// <summary>A violation found at <paramref name="row"/> and N:M <paramref name="group"/> (−1 for a row-level check).</summary>
    public SparsityViolationException(string message, int row, int group) : base(message)
    {
        Row = row;
        Group = group;
    }

    /// <summary>The first offending row.</summary>
    public int Row { get; }

    /// <summary>The offending N:M group index within the row, or -1 for a row-level check.</summary>
    public int Group { get; }
}
