namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// Where a stream of bytes stands in a JSON text valid under a compiled schema (<see cref="CompiledSchema"/>): a
/// byte-level automaton that accepts exactly the prefixes of the texts the schema accepts within the bounds of JSON mode
/// (<see cref="JsonPrefix"/>: nesting, whitespace runs, nothing before the opening brace or after the closing one),
/// with declared properties in their declared order and enum values, const values and keys written as their shortest
/// JSON texts. Every prefix it accepts can still be completed within those bounds (each container is opened only
/// when the fewest levels its required members need still fit), so a token mask built from it never leads a model into
/// a dead end. A value type: the innermost container's frame, the lexer's progress, and a shared immutable list of the
/// outer frames (<see cref="SchemaFrames"/>), equal by content so that masks are cached per state.
/// </summary>
internal struct SchemaPrefix : IBytePrefix<SchemaPrefix>
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

    private static bool IsDigit(byte b) => (uint)(b - '0') <= 9;

    // An integer takes neither a fraction nor an exponent (1.0 and 1e2 are integers to JSON Schema, but 1 says it). A
    // number held to a range takes no exponent (it could move the value anywhere), and a dot only where a value in
    // range starts so.
    private bool Fraction()
    {
        SchemaNode node = ValueNode();
        return node.Number == NumberKind.Number && (Untracked(node.Range) || node.Range.Viable(Negative, true, _magnitude, 0, 0, inFraction: true, grows: false)) && To(Mode.Dot);
    }

    private bool Exponent() => ValueNode() is { Number: NumberKind.Number, Range.IsAll: true } && To(Mode.Exponent);

    private bool EndNumber(byte b)
    {
        NumberRange range = ValueNode().Range;
        if (!Untracked(range) && !range.Contains(Negative, _magnitude, _fraction, _decimals))
        {
            return false;
        }
        _aux = 0;
        _magnitude = 0;
        _fraction = 0;
        _decimals = 0;
        _mode = Mode.AfterValue;
        return Structural(b);
    }

    private bool FirstDigit(byte b) => IsDigit(b) && Digit(b, grows: b != '0') && To(b == '0' ? Mode.Zero : Mode.Integer);

    // _aux of a number held to a range: its sign, and whether every value it may still become is in the range.
    private const byte NegativeNumber = 1;
    private const byte FreeNumber = 2;

    private readonly bool Negative => (_aux & NegativeNumber) != 0;

    // Whether the number's digits need no following: no range, or every value it may still become is in it.
    private readonly bool Untracked(NumberRange range) => range.IsAll || (_aux & FreeNumber) != 0;

    // One more digit of a number's whole part: under a range, refused where no value in it starts so (so a reply never
    // writes a number it cannot end), and followed until every value it may become is in the range.
    private bool Digit(byte b, bool grows = true)
    {
        NumberRange range = ValueNode().Range;
        if (Untracked(range))
        {
            return true;
        }
        // Bounds are below 10^17 in size and a followed whole part never passes one, so this stays within a long.
        long whole = (_magnitude * 10) + (b - '0');
        if (!range.Viable(Negative, true, whole, 0, 0, inFraction: false, grows))
        {
            return false;
        }
        _magnitude = whole;
        FreeIf(range.Free(Negative, whole, 0, 0, inFraction: false));
        return true;
    }

    // One more decimal of a number held to a range: refused where no value in it starts so, and past
    // NumberRange.MaxDecimals (where a value must already be in range to be written).
    private bool Decimal(byte b)
    {
        NumberRange range = ValueNode().Range;
        if (Untracked(range))
        {
            return true;
        }
        int decimals = _decimals + 1;
        long fraction = (_fraction * 10) + (b - '0');
        if (decimals > NumberRange.MaxDecimals
            || !range.Viable(Negative, true, _magnitude, fraction, decimals, inFraction: true, grows: false)
            || (decimals == NumberRange.MaxDecimals && !range.Contains(Negative, _magnitude, fraction, decimals)))
        {
            return false;
        }
        (_fraction, _decimals) = (fraction, (byte)decimals);
        FreeIf(range.Free(Negative, _magnitude, fraction, decimals, inFraction: true));
        return true;
    }

    private void FreeIf(bool free)
    {
        if (free)
        {
            _aux |= FreeNumber;
            (_magnitude, _fraction, _decimals) = (0, 0, 0);
        }
    }

    private bool Structural(byte b)
    {
        if (_whitespace.Take(b, out bool taken))
        {
            // None before the opening brace: the reply starts with it.
            return taken && _mode != Mode.Start;
        }
        switch (_mode)
        {
            case Mode.Start:
                return b == '{' && Open(_schema.RootShape);
            case Mode.ObjectOpen:
                return b == '"' ? BeginKey() : b == '}' && !RequiredLeft() && Close();
            case Mode.Key:
                return b == '"' && BeginKey();
            case Mode.Colon:
                return b == ':' && To(Mode.Value);
            case Mode.Value:
                return BeginValue(b);
            case Mode.ArrayOpen:
                return b == ']' ? Shape.MinItems == 0 && Close() : NextItem() && BeginValue(b);
            case Mode.AfterValue:
                if (Shape.IsObject)
                {
                    return b == ',' ? CanAddKey() && To(Mode.Key) : b == '}' && !RequiredLeft() && Close();
                }
                return b == ',' ? NextItem() && To(Mode.Value) : b == ']' && _counter >= Shape.MinItems && Close();
            default:
                return false;
        }
    }

    // A required property not yet written: the object may not close.
    private readonly bool RequiredLeft()
    {
        SchemaShape s = Shape;
        return s.NextRequired.Length > 0 && s.NextRequired[_counter] < s.Properties.Length;
    }

    // Declared property j may come next: in order, skipping no required property, and its value fits the nesting left.
    private readonly bool MayCome(SchemaShape s, int j) =>
        j >= _counter && j <= s.NextRequired[_counter] && j < s.Properties.Length
        && (s.Required[j] || Fits(_schema.Nodes[s.Properties[j]].MinDepth));

    // A key not declared may come: additionalProperties allows one, every required property is written, and its value fits.
    private readonly bool ExtrasAllowed()
    {
        SchemaShape s = Shape;
        return s.Additional >= 0 && s.NextRequired[_counter] == s.Properties.Length && Fits(_schema.Nodes[s.Additional].MinDepth);
    }

    private readonly bool CanAddKey()
    {
        SchemaShape s = Shape;
        if (ExtrasAllowed())
        {
            return true;
        }
        for (int j = _counter; j < s.Properties.Length && j <= s.NextRequired[_counter]; j++)
        {
            if (MayCome(s, j))
            {
                return true;
            }
        }
        return false;
    }

    // A key's trie node leads to a property that may come. Bound: the properties below it, at most those of the object.
    private readonly bool KeyViable(int node)
    {
        SchemaShape s = Shape;
        int[] below = _schema.Literals.Below(node);
        int from = Array.BinarySearch(below, (int)_counter);
        for (int i = from >= 0 ? from : ~from; i < below.Length && below[i] <= s.NextRequired[_counter]; i++)
        {
            if (MayCome(s, below[i]))
            {
                return true;
            }
        }
        return false;
    }

    private bool BeginKey()
    {
        SchemaShape s = Shape;
        _inKey = true;
        _aux = 0;
        _utf8 = 0;
        if (s.Keys < 0)
        {
            if (!CanAddKey())
            {
                return false;
            }
            _utf8 = 0;
            return To(Mode.String);
        }
        int node = _schema.Literals.Child(s.Keys, (byte)'"');
        if (node < 0 || !(KeyViable(node) || ExtrasAllowed()))
        {
            return false;
        }
        _literal = node;
        return To(Mode.Literal);
    }

    // One more array item: within maxItems, and its value fits the nesting left.
    private bool NextItem()
    {
        SchemaShape s = Shape;
        if (s.Items < 0 || (s.MaxItems >= 0 && _counter >= s.MaxItems) || !Fits(_schema.Nodes[s.Items].MinDepth))
        {
            return false;
        }
        if (_counter < s.ItemCap)
        {
            _counter++;
        }
        return true;
    }

    private bool BeginValue(byte b)
    {
        SchemaNode node = ValueNode();
        switch (b)
        {
            case (byte)'{':
                return node.Object >= 0 && Fits(_schema.Shapes[node.Object].MinDepth) && Open(node.Object);
            case (byte)'[':
                return node.Array >= 0 && Fits(_schema.Shapes[node.Array].MinDepth) && Open(node.Array);
            case (byte)'"' when node is { AnyString: true } && (node.Format != StringFormat.None || node.Pattern is not null):
                _inKey = false;
                _magnitude = 0;
                return To(Mode.Formatted);
            case (byte)'"' when node.AnyString:
                _inKey = false;
                _utf8 = 0;
                _length = 0;
                return To(Mode.String);
            case (byte)'-' when node.Number != NumberKind.None:
                (_aux, _magnitude, _fraction, _decimals) = (node.Range.IsAll ? (byte)0 : NegativeNumber, 0, 0, 0);
                return node.Range.Viable(negative: true, digits: false, 0, 0, 0, inFraction: false, grows: true) && To(Mode.Minus);
            case >= (byte)'0' and <= (byte)'9' when node.Number != NumberKind.None:
                (_aux, _magnitude, _fraction, _decimals) = (0, 0, 0, 0);
                return FirstDigit(b);
            default:
                return node.Literals >= 0 && BeginLiteral(node.Literals, b);
        }
    }

    private bool BeginLiteral(int root, byte b)
    {
        int next = _schema.Literals.Child(root, b);
        if (next < 0 || !BranchViable(next))
        {
            return false;
        }
        _inKey = false;
        _literal = next;
        _mode = Mode.Literal;
        if (_schema.Literals.IsLeaf(next))
        {
            EndLiteral();
        }
        return true;
    }

    private bool InLiteral(byte b)
    {
        LiteralTrie literals = _schema.Literals;
        int next = literals.Child(_literal, b);
        if (_inKey)
        {
            return InKey(b, next);
        }
        if (next >= 0)
        {
            if (!BranchViable(next))
            {
                return false;
            }
            _literal = next;
            if (literals.IsLeaf(next))
            {
                EndLiteral();
            }
            return true;
        }
        // A value literal may end where another goes on (enum [1, 12] after "1"): the byte is what follows the value.
        if (literals.Terminal(_literal) >= 0)
        {
            TakeBranch();
            _literal = 0;
            _mode = Mode.AfterValue;
            return Structural(b);
        }
        return false;
    }

    // A key of an object with declared properties: along the trie of their names while one of them may come (or, where
    // further keys are allowed, while the bytes still spell the start of one); off it, a further key, which then is no
    // declared name: its bytes so far are a declared name's shortest JSON text and it takes no escapes from here, so
    // equal strings would have been equal bytes. It never leaves the trie inside an escape (\u0061 is "a").
    private bool InKey(byte b, int next)
    {
        SchemaShape s = Shape;
        LiteralTrie literals = _schema.Literals;
        bool extras = ExtrasAllowed();
        if (next >= 0)
        {
            if (literals.IsLeaf(next))
            {
                // The closing quote of a declared name: that property, in its place, or nothing (not as a further key).
                if (!MayCome(s, literals.Terminal(next)))
                {
                    return false;
                }
                _literal = next;
                EndLiteral();
                return true;
            }
            if (!KeyViable(next) && !extras)
            {
                return false;
            }
            _literal = next;
            TrackKeyByte(b);
            return true;
        }
        if (!extras || _aux != 0)
        {
            return false;
        }
        _literal = 0;
        _counter = (ushort)(s.Properties.Length + 1);
        _length = 0;
        _mode = Mode.String;
        return InString(b);
    }

    // Along a declared name's bytes: where an escape or a UTF-8 sequence stands, should the key leave the trie.
    // _aux: 1 after a backslash, 6 .. 3 with 4 .. 1 hex digits of a \u escape due.
    private void TrackKeyByte(byte b)
    {
        if (_aux == 1)
        {
            _aux = b == 'u' ? (byte)6 : (byte)0;
        }
        else if (_aux > 1)
        {
            _aux = _aux == 3 ? (byte)0 : (byte)(_aux - 1);
        }
        else if (b == '\\')
        {
            _aux = 1;
        }
        else if (b >= 0x80)
        {
            _utf8 = _utf8 != 0 ? JsonTextBytes.Utf8Next(_utf8) : JsonTextBytes.Utf8Lead(b);
        }
    }

    private void EndLiteral()
    {
        if (_inKey)
        {
            _counter = (ushort)(_schema.Literals.Terminal(_literal) + 1);
            _mode = Mode.Colon;
        }
        else
        {
            TakeBranch();
            _mode = Mode.AfterValue;
        }
        _literal = 0;
        _inKey = false;
    }

    // A union's discriminator value, just written: the object goes on as the branch it names (past the same key).
    private void TakeBranch()
    {
        if (Shape.Branches is int[] branches)
        {
            _shape = (ushort)branches[_schema.Literals.Terminal(_literal)];
        }
    }

    // Along a union's discriminator value: the literal still leads to a branch whose required members fit the nesting
    // left (the branch's object is already open), so the walk never picks a branch it cannot finish.
    private readonly bool BranchViable(int node)
    {
        if (Shape.Branches is not int[] branches)
        {
            return true;
        }
        foreach (int branch in _schema.Literals.Below(node))
        {
            if (Fits(_schema.Shapes[branches[branch]].MinDepth - 1))
            {
                return true;
            }
        }
        return false;
    }

    private bool Open(int shape)
    {
        if (_depth > 0)
        {
            _rest = new SchemaFrames(_shape, _counter, _rest);
        }
        _shape = (ushort)shape;
        _counter = 0;
        _depth++;
        return To(_schema.Shapes[shape].IsObject ? Mode.ObjectOpen : Mode.ArrayOpen);
    }

    private bool Close()
    {
        _depth--;
        if (_depth == 0)
        {
            _shape = 0;
            _counter = 0;
            return To(Mode.Done);
        }
        _shape = _rest!.Shape;
        _counter = _rest.Counter;
        _rest = _rest.Rest;
        return To(Mode.AfterValue);
    }

    // One more character of a string value: refused past maxLength (a key is not counted).
    private bool CountCharacter()
    {
        if (_inKey)
        {
            return true;
        }
        SchemaNode node = ValueNode();
        if (node.MaxLength >= 0 && _length >= node.MaxLength)
        {
            return false;
        }
        if (_length < node.LengthCap)
        {
            _length++;
        }
        return true;
    }

    // A string held to a format (written without escapes) or a pattern: its bytes along their automaton, the closing
    // quote once it is a whole one.
    private bool InFormatted(byte b)
    {
        SchemaNode node = ValueNode();
        // A quote ends the string, but after a backslash (an escaped quote, in a pattern's string).
        if (b == '"' && node.Pattern?.InCharacter(_magnitude) != true)
        {
            if (!(node.Pattern?.Complete(_magnitude) ?? StringFormats.Complete(node.Format, _magnitude)))
            {
                return false;
            }
            _magnitude = 0;
            return To(Mode.AfterValue);
        }
        return node.Pattern?.Step(ref _magnitude, b) ?? StringFormats.Step(node.Format, ref _magnitude, b);
    }

    private bool InString(byte b)
    {
        if (_utf8 != 0)
        {
            return JsonTextBytes.Utf8Continue(ref _utf8, b);
        }
        if (b < 0x80)
        {
            if (b == '"')
            {
                if (!_inKey && _length < ValueNode().MinLength)
                {
                    return false;
                }
                _length = 0;
                bool key = _inKey;
                _inKey = false;
                return To(key ? Mode.Colon : Mode.AfterValue);
            }
            // A further key of an object with declared properties takes no escapes (see InKey).
            if (b < 0x20 || (b == '\\' && _inKey && Shape.Keys >= 0) || !CountCharacter())
            {
                return false;
            }
            if (b == '\\')
            {
                _aux = 0;
                return To(Mode.Escape);
            }
            return true;
        }
        byte lead = JsonTextBytes.Utf8Lead(b);
        if (lead == 0 || !CountCharacter())
        {
            return false;
        }
        _utf8 = lead;
        return true;
    }

    // A byte of an escape (its progress in _aux): the string goes on once it is complete.
    private bool EscapeByte(byte b)
    {
        JsonTextBytes.EscapeStep step = JsonTextBytes.EscapeByte(ref _aux, b);
        if (step == JsonTextBytes.EscapeStep.Done)
        {
            _mode = Mode.String;
        }
        return step != JsonTextBytes.EscapeStep.Refused;
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
