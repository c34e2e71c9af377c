namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// A JSON schema as <see cref="SchemaPrefix"/> reads it: value nodes (what a value may be, by the byte it starts
/// with), container shapes (an object's properties in order, an array's items and count) and the tries of the
/// literals (enum and const values, boolean and null, an object's keys). Immutable once compiled
/// (<see cref="JsonSchemaCompiler"/>); shared by every reply under the schema.
/// </summary>
internal sealed class CompiledSchema
{
    public CompiledSchema(SchemaNode[] nodes, SchemaShape[] shapes, LiteralTrie literals, int rootShape)
    {
        Nodes = nodes;
        Shapes = shapes;
        Literals = literals;
        RootShape = rootShape;
    }

    public SchemaNode[] Nodes { get; }

    public SchemaShape[] Shapes { get; }

    public LiteralTrie Literals { get; }

    /// <summary>The top-level object's shape.</summary>
    public int RootShape { get; }
}

/// <summary>What a value may be: at most one choice per first byte, so the byte a value starts with picks its branch.</summary>
internal sealed class SchemaNode
{
    /// <summary>The shape of an object value, or −1 when no object may come.</summary>
    public int Object { get; set; } = -1;

    /// <summary>The shape of an array value, or −1 when no array may come.</summary>
    public int Array { get; set; } = -1;

    /// <summary>Any string within <see cref="MinLength"/> .. <see cref="MaxLength"/> characters (code points) may come.</summary>
    public bool AnyString { get; set; }

    public int MinLength { get; set; }

    /// <summary>−1: no bound.</summary>
    public int MaxLength { get; set; } = -1;

    /// <summary>The format any string is held to, or none (<see cref="StringFormats"/>).</summary>
    public StringFormat Format { get; set; }

    /// <summary>The pattern any string is held to (its lengths folded in), or null.</summary>
    public StringPattern? Pattern { get; set; }

    public NumberKind Number { get; set; }

    /// <summary>The values a number or an integer may be (minimum, maximum, and their exclusive forms).</summary>
    public NumberRange Range { get; set; }

    /// <summary>The root, in <see cref="CompiledSchema.Literals"/>, of the literal values that may come (enum, const, true, false, null), or −1.</summary>
    public int Literals { get; set; } = -1;

    /// <summary>The fewest levels of nesting a value of this node opens (0 for a string, number or literal); <see cref="SchemaShape.Unreachable"/> when none can be written.</summary>
    public int MinDepth { get; set; } = SchemaShape.Unreachable;

    /// <summary>Characters counted in a string (the count saturates here: longer runs read alike).</summary>
    public int LengthCap => Math.Max(MinLength, MaxLength);
}

internal enum NumberKind : byte
{
    None,
    Integer,
    Number,
}

/// <summary>An object's or an array's shape.</summary>
internal sealed class SchemaShape
{
    /// <summary>A MinDepth no value reaches: more than the nesting allows.</summary>
    public const int Unreachable = 1000;

    public bool IsObject { get; init; }

    /// <summary>Object: the value node of each declared property, in the order the keys must come.</summary>
    public int[] Properties { get; init; } = [];

    /// <summary>Object: whether each declared property must come.</summary>
    public bool[] Required { get; init; } = [];

    /// <summary>
    /// Object: the first required property at or after each index (the count when none), for indices 0 .. count, and
    /// count + 1 (a further key was written: no declared property comes any more).
    /// </summary>
    public int[] NextRequired { get; init; } = [];

    /// <summary>Object with declared properties: the root of their keys' trie ("name" with its quotes; the terminal is the property's index).</summary>
    public int Keys { get; init; } = -1;

    /// <summary>
    /// Object: the node of the value of a key not declared (additionalProperties; any key without declared properties,
    /// after the declared ones written otherwise); −1 when none may come.
    /// </summary>
    public int Additional { get; init; } = -1;

    /// <summary>
    /// An object of one of several shapes (anyOf or oneOf of objects) told apart by a discriminator: the shape's one
    /// property is the key every branch writes first, whose value is a string literal that ends in the index of its
    /// branch here; once written, the object goes on as that branch (whose first property is the same key). Null for
    /// an object of one shape.
    /// </summary>
    public int[]? Branches { get; init; }

    /// <summary>Array: the node of every item; −1 when none may come.</summary>
    public int Items { get; init; } = -1;

    public int MinItems { get; init; }

    /// <summary>−1: no bound.</summary>
    public int MaxItems { get; init; } = -1;

    /// <summary>Array: items counted (the count saturates here: more items read alike).</summary>
    public int ItemCap => Math.Max(MinItems, MaxItems);

    /// <summary>The fewest levels of nesting a value of this shape opens, itself included.</summary>
    public int MinDepth { get; set; } = Unreachable;
}
