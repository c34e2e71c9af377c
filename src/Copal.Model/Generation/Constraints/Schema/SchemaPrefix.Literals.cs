namespace Copal.Model.Generation.Constraints.Schema;

// SchemaPrefix along the schema's literal trie: the keys of declared properties, in their declared order, and enum
// and const values, with a union's discriminator choosing the branch the object goes on as.
internal partial struct SchemaPrefix
{
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
}
