namespace Copal.Model.Generation.Constraints.Schema;

// SchemaPrefix's numbers: JSON's number grammar, an integer's or a number's own, and a number held to a range
// (minimum, maximum, exclusive bounds) followed digit by digit until every value it may still become is in it.
internal partial struct SchemaPrefix
{
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
}
