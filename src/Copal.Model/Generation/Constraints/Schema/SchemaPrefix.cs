namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// Where a stream of bytes stands in a JSON text valid under a compiled schema (<see cref="CompiledSchema"/>): a
/// byte-level automaton that accepts exactly the prefixes of the texts the schema accepts within the bounds of JSON mode
/// (<see cref="JsonPrefix"/>: nesting, whitespace runs, nothing before the opening brace or after the closing one),
/// with declared properties in their declared order and enum values, const values and keys written as their shortest
/// JSON texts. Every prefix it accepts can still be completed within those bounds (each container is opened only
/// when the fewest levels its required members need still fit), so a token mask built from it never leads a model into
/// a dead end. A value type: the innermost container's frame, the lexer's progress, and a shared immutable list of the
/// outer frames (<see cref="SchemaFrames"/>), equal by content so that masks are cached per state. This file holds
/// the state and the dispatch of a byte by mode; the modes' rules are in SchemaPrefix.Structure (between tokens),
/// .Literals (declared keys, enum and const values), .Strings and .Numbers.
/// </summary>
internal partial struct SchemaPrefix : IBytePrefix<SchemaPrefix>
{
    /// <summary>The deepest nesting of objects and arrays accepted, as JSON mode's.</summary>
    public const int MaxDepth = JsonPrefix.MaxDepth;

    private readonly CompiledSchema _schema;
    private SchemaFrames? _rest;
    // Literal: the node of the literal trie reached.
    private int _literal;
    // The innermost container: its shape, and an object's next property index or an array's items begun.
    private ushort _shape;
    private ushort _counter;
    // A string value's characters so far (saturated at its node's LengthCap).
    private ushort _length;
    // A number held to a range, until every value it may still become is in it: its whole part and its decimals so far.
    private long _magnitude;
    private long _fraction;
    private byte _decimals;
    private Mode _mode;
    private byte _depth;
    // A number's sign and whether it is still followed (NegativeNumber, FreeNumber), an escape's progress
    // (JsonTextBytes.EscapeByte), or a key's escapes where declared keys are walked (InKey).
    private byte _aux;
    private byte _utf8;
    private WhitespaceRun _whitespace;
    private bool _inKey;

    /// <summary>The state before the reply's first byte.</summary>
    public SchemaPrefix(CompiledSchema schema)
    {
        _schema = schema;
    }

    public readonly bool IsComplete => _mode == Mode.Done;

    /// <summary>Objects and arrays open now.</summary>
    public readonly int Depth => _depth;

    public bool TryAdvance(byte b)
    {
        SchemaPrefix next = this;
        if (!next.Step(b))
        {
            return false;
        }
        this = next;
        return true;
    }

    public bool TryAdvance(ReadOnlySpan<byte> bytes) => BytePrefix.TryAdvanceAll(ref this, bytes);

    private readonly SchemaShape Shape => _schema.Shapes[_shape];

    // The node of the value at hand: the innermost container's property, member or item (the root is an object).
    private readonly SchemaNode ValueNode()
    {
        SchemaShape s = Shape;
        return _schema.Nodes[s.IsObject ? (s.Keys >= 0 && _counter <= s.Properties.Length ? s.Properties[_counter - 1] : s.Additional) : s.Items];
    }

    private readonly bool Fits(int minDepth) => _depth + minDepth <= MaxDepth;

    private bool Step(byte b)
    {
        switch (_mode)
        {
            case Mode.String:
                return InString(b);
            case Mode.Escape:
                return EscapeByte(b);
            case Mode.Literal:
                return InLiteral(b);
            case Mode.Formatted:
                return InFormatted(b);
            case Mode.Minus:
                return FirstDigit(b);
            case Mode.Zero:
                return b == '.' ? Fraction() : (b | 0x20) == 'e' ? Exponent() : EndNumber(b);
            case Mode.Integer:
                return IsDigit(b) ? Digit(b) : b == '.' ? Fraction() : (b | 0x20) == 'e' ? Exponent() : EndNumber(b);
            case Mode.Dot:
                return IsDigit(b) && Decimal(b) && To(Mode.Fraction);
            case Mode.Fraction:
                return IsDigit(b) ? Decimal(b) : (b | 0x20) == 'e' ? Exponent() : EndNumber(b);
            case Mode.Exponent:
                return b is (byte)'+' or (byte)'-' ? To(Mode.ExponentSign) : IsDigit(b) && To(Mode.ExponentDigits);
            case Mode.ExponentSign:
                return IsDigit(b) && To(Mode.ExponentDigits);
            case Mode.ExponentDigits:
                return IsDigit(b) || EndNumber(b);
            case Mode.Done:
                return false;
            default:
                return Structural(b);
        }
    }

    private bool To(Mode mode)
    {
        _mode = mode;
        return true;
    }

    public readonly string Expected() => _mode switch
    {
        Mode.Start => "the opening '{'",
        Mode.ObjectOpen => "a key of the schema's or '}'",
        Mode.Key => "a key of the schema's",
        Mode.Colon => "':'",
        Mode.Value => "a value of the schema's",
        Mode.ArrayOpen => "an item of the schema's or ']'",
        Mode.AfterValue => Shape.IsObject ? "',' or '}'" : "',' or ']'",
        Mode.String or Mode.Escape => "more of a string",
        Mode.Formatted => ValueNode().Pattern is null ? "more of a string in its format" : "more of a string that matches its pattern",
        Mode.Literal => _inKey ? "the rest of a key of the schema's" : "the rest of a value of the schema's enum",
        Mode.Done => "nothing (the object is complete)",
        _ => "more of a number",
    } + (_mode <= Mode.AfterValue ? _whitespace.Note() : "");

    /// <summary>Equal states take the same bytes from here on (fields a later byte writes before it reads them are left out).</summary>
    public readonly bool Equals(SchemaPrefix other) => Key() == other.Key() && SchemaFrames.Same(_rest, other._rest);

    public override readonly bool Equals(object? obj) => obj is SchemaPrefix other && Equals(other);

    public override readonly int GetHashCode() => HashCode.Combine(Key(), _rest?.Hash ?? 0);

    // The modes of a number that a range follows (an exponent comes only where there is no range).
    private readonly bool InNumber() => _mode is Mode.Minus or Mode.Zero or Mode.Integer or Mode.Dot or Mode.Fraction;

    private readonly bool InString() => _mode is Mode.String or Mode.Escape;

    private readonly (Mode Mode, byte Depth, ushort Shape, ushort Counter, int Literal, ushort Length, byte Aux, (long, long, byte) Number, byte Utf8, WhitespaceRun Whitespace, bool InKey) Key() =>
        (_mode, _depth, _shape, _counter,
            _mode == Mode.Literal ? _literal : 0,
            InString() && !_inKey ? _length : (ushort)0,
            _mode is Mode.Escape or Mode.Literal || InNumber() ? _aux : (byte)0,
            InNumber() ? (_magnitude, _fraction, _decimals) : _mode == Mode.Formatted ? (_magnitude, 0L, (byte)0) : default,
            _utf8, _whitespace,
            _inKey && (_mode == Mode.Literal || InString()));

    private enum Mode : byte
    {
        // Between tokens (whitespace allowed), up to AfterValue.
        Start,
        ObjectOpen,
        Key,
        Colon,
        Value,
        ArrayOpen,
        AfterValue,
        // Inside a token.
        String,
        Escape,
        Literal,
        Formatted,
        Minus,
        Zero,
        Integer,
        Dot,
        Fraction,
        Exponent,
        ExponentSign,
        ExponentDigits,
        Done,
    }
}
