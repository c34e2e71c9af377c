namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// The containers open below the innermost one, as an immutable list (the innermost frame lives in the state itself):
/// a token trie walk copies states at every node, and a copy shares the list. Equal by content, so two replies in the
/// same place share one mask; the hash is computed once.
/// </summary>
internal sealed class SchemaFrames : IEquatable<SchemaFrames>
{
    public SchemaFrames(ushort shape, ushort counter, SchemaFrames? rest)
    {
        Shape = shape;
        Counter = counter;
        Rest = rest;
        Hash = HashCode.Combine(shape, counter, rest?.Hash ?? 0);
    }

    public ushort Shape { get; }

    /// <summary>An object's next property index, or an array's items begun (saturated).</summary>
    public ushort Counter { get; }

    public SchemaFrames? Rest { get; }

    public int Hash { get; }

    public bool Equals(SchemaFrames? other)
    {
        SchemaFrames? a = this, b = other;
        while (a is not null && b is not null)
        {
            if (ReferenceEquals(a, b))
            {
                return true;
            }
            if (a.Hash != b.Hash || a.Shape != b.Shape || a.Counter != b.Counter)
            {
                return false;
            }
            (a, b) = (a.Rest, b.Rest);
        }
        return a is null && b is null;
    }

    public override bool Equals(object? obj) => obj is SchemaFrames other && Equals(other);

    public override int GetHashCode() => Hash;

    public static bool Same(SchemaFrames? a, SchemaFrames? b) => a is null ? b is null : a.Equals(b);
}
