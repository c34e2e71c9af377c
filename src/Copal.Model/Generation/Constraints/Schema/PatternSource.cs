namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// A string branch as a pattern compiles it: its pattern (empty: any string, since a pattern matches anywhere), the
/// lengths beside it (−1: no most), and whether the pattern holds only a subset of the branch's strings (a format's:
/// the forms a model writes, without escapes, since none of their characters needs one), which oneOf cannot subtract
/// from another branch.
/// </summary>
internal sealed record PatternSource(string Pattern, int MinLength, int MaxLength, bool Subset = false);
