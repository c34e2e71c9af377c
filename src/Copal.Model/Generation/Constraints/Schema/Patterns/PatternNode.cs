namespace Copal.Model.Generation.Constraints.Schema.Patterns;

/// <summary>A parsed regular expression (<see cref="PatternParser"/>).</summary>
internal abstract record PatternNode;

/// <summary>One character of the set: those every engine's reading takes.</summary>
internal sealed record CharNode(CharSet Set) : PatternNode
{
    /// <summary>Those any engine's reading takes (the set where engines agree): what a negative lookahead's body is read as.</summary>
    public CharSet Upper { get; init; } = Set;

    public static CharNode Of(CharSet.Reading reading) => new(reading.Min) { Upper = reading.Max };
}

/// <summary>The parts one after another (none: the empty string).</summary>
internal sealed record SequenceNode(IReadOnlyList<PatternNode> Parts) : PatternNode;

/// <summary>Any one of the choices.</summary>
internal sealed record ChoiceNode(IReadOnlyList<PatternNode> Choices) : PatternNode;

/// <summary>The body from <see cref="Min"/> to <see cref="Max"/> times (−1: no bound).</summary>
internal sealed record RepeatNode(PatternNode Body, int Min, int Max) : PatternNode;

/// <summary>^ (the start of the string) or $ (its end): the string has no line mode in JSON Schema.</summary>
internal sealed record AnchorNode(bool AtStart) : PatternNode;

/// <summary>(?=body) or (?!body): whether the body matches from here, consuming nothing.</summary>
internal sealed record LookaheadNode(PatternNode Body, bool Negative) : PatternNode;
