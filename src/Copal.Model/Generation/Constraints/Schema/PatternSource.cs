namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// A string branch as a pattern compiles it: its pattern (empty: any string, since a pattern matches anywhere) and the
/// lengths beside it (−1: no most).
/// </summary>
internal sealed record PatternSource(string Pattern, int MinLength, int MaxLength);
