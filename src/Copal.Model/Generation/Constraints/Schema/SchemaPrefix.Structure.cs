namespace Copal.Model.Generation.Constraints.Schema;

// SchemaPrefix between tokens: whitespace, the brackets, commas and colons of objects and arrays, which keys and
// items may still come (required properties, additionalProperties, minItems/maxItems, the nesting left), and where
// each value begins.
internal partial struct SchemaPrefix
{
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
}
