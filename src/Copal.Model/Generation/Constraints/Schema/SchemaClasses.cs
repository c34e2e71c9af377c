namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// What one schema allows, by the byte a value starts with, while it is compiled: an object shape, an array shape, any
/// string, any number or integer, and literal texts. anyOf, oneOf and a list of types merge branches into one of these
/// only when each first byte still picks one branch. Never changed once built: memoised schemas share them.
/// </summary>
internal sealed record SchemaClasses
{
    public int Object { get; init; } = -1;

    public int Array { get; init; } = -1;

    public bool AnyString { get; init; }

    public int MinLength { get; init; }

    public int MaxLength { get; init; } = -1;

    /// <summary>The format any string is held to (JSON Schema's format), or none.</summary>
    public StringFormat Format { get; init; }

    /// <summary>The pattern any string is held to (JSON Schema's pattern, with minLength and maxLength folded in), or null.</summary>
    public StringPattern? Pattern { get; init; }

    public NumberKind Number { get; init; }

    /// <summary>The values a number or an integer may be.</summary>
    public NumberRange Range { get; init; }

    public IReadOnlyList<SchemaLiteral> Literals { get; init; } = [];

    public static readonly SchemaClasses None = new();
}

/// <summary>An enum or const value (or true, false, null) as the bytes a reply writes it with.</summary>
internal sealed record SchemaLiteral(byte[] Bytes, LiteralKind Kind, string Text);

internal enum LiteralKind : byte
{
    String,
    Number,
    True,
    False,
    Null,
}
