namespace Copal.Model.Generation.Constraints.Schema;

// SchemaPrefix inside strings: characters counted against minLength/maxLength, escapes, UTF-8 sequences, and
// strings held to a format or a pattern.
internal partial struct SchemaPrefix
{
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
}
