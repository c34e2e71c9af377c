namespace Copal.Model.Generation.Constraints.Schema.Patterns;

/// <summary>
/// A pattern copal does not hold a string to: malformed, past its limits, or a construct it does not take (a
/// backreference, a lookbehind, a word boundary) or that engines read differently. The message says which, in words.
/// </summary>
internal sealed class PatternNotTakenException(string reason) : Exception(reason);
