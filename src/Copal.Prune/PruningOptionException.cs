namespace Copal.Prune;

/// <summary>
/// A user-facing pruning option (sparsity, N:M pattern, SparseGPT settings) has a value outside its valid range.
/// The message names the option, the value given and what was expected.
/// </summary>
public sealed class PruningOptionException : ArgumentException
{
    /// <summary>Option <paramref name="option"/> refused <paramref name="value"/>; the message reads "option 'o' has value 'v', expected e".</summary>
    public PruningOptionException(string option, string value, string expected)
        : base($"option '{option}' has value '{value}', expected {expected}")
    {
        Option = option;
        Value = value;
        Expected = expected;
    }

    /// <summary>The option's name as the user wrote it (e.g. "sparsity").</summary>
    public string Option { get; }

    /// <summary>The rejected value, as text.</summary>
    public string Value { get; }

    /// <summary>What the option accepts, e.g. "a ratio between 0 and 0.95".</summary>
    public string Expected { get; }
}
