namespace Copal.Model.Generation.Constraints;

/// <summary>
/// Where a stream of bytes stands in a JSON text whose top-level value is an object (RFC 8259; OpenAI's json_object):
/// a byte-level automaton that accepts exactly the prefixes of such texts, within three bounds of its own. Every
/// prefix it accepts can still be completed to a whole object, so a token mask built from it never leads a model into
/// a dead end (as long as the vocabulary has the bytes to finish). A value type of 16 bytes: the mask copies one at
/// every node of the token trie it walks.
/// </summary>
/// <remarks>
/// The bounds, each of which keeps a model from writing on without adding to the object (a small model, its likeliest
/// tokens masked, will fill whatever whitespace it is given): nesting is at most <see cref="MaxDepth"/> levels
/// (System.Text.Json's default, and what the bit stack holds); a run of whitespace between tokens holds at most
/// <see cref="MaxNewlines"/> line feed and <see cref="MaxOtherWhitespace"/> spaces, tabs and carriage returns, as
/// llama.cpp's JSON grammar allows (one line break and an indentation of up to 20: ten levels at two spaces); the
/// reply starts with the opening brace, without whitespace, and nothing follows the closing one, not even whitespace:
/// the reply ends there. Beyond RFC 8259's grammar the strings must be text: valid UTF-8 (a sequence may be split
/// between tokens: the state carries the bytes it still waits for) and \u escapes that pair their surrogates, as a
/// reader that turns the strings into text requires.
/// </remarks>
internal struct JsonPrefix : IBytePrefix<JsonPrefix>
{
    /// <summary>The deepest nesting of objects and arrays accepted; one more opening bracket is refused.</summary>
    public const int MaxDepth = 64;

    /// <summary>Line feeds in one run of whitespace.</summary>
    public const int MaxNewlines = 1;

    /// <summary>Spaces, tabs and carriage returns in one run of whitespace.</summary>
    public const int MaxOtherWhitespace = 20;

    // Bit d: level d + 1 is an object (else an array).
    private ulong _objects;
    private Mode _mode;
    private byte _depth;
    // Literal: the index of the next byte in Literals. Escape: its progress (JsonTextBytes.EscapeByte).
    private byte _aux;
    // Inside a string, a UTF-8 sequence begun: the continuation bytes still due (low 2 bits) and the next one's range (above).
    private byte _utf8;
    private WhitespaceRun _whitespace;
    private bool _inKey;

    // true, false and null, each ended by a 0: a literal's progress is an index here.
    private static ReadOnlySpan<byte> Literals => "true\0false\0null\0"u8;

    /// <summary>The top-level object has closed: nothing may follow but the end of the reply.</summary>
    public readonly bool IsComplete => _mode == Mode.Done;

    /// <summary>Objects and arrays open now.</summary>
    public readonly int Depth => _depth;

    /// <summary>
    /// Takes <paramref name="b"/> when the bytes so far followed by it are still a prefix of an accepted text, and
    /// returns true; otherwise returns false and leaves the state as it was.
    /// </summary>
    public bool TryAdvance(byte b)
    {
        JsonPrefix next = this;
        if (!next.Step(b))
        {
            return false;
        }
        this = next;
        return true;
    }

    /// <summary>Takes every byte of <paramref name="bytes"/>, or none (returning false) if one is refused.</summary>
    public bool TryAdvance(ReadOnlySpan<byte> bytes) => BytePrefix.TryAdvanceAll(ref this, bytes);

    private bool Step(byte b)
    {
        switch (_mode)
        {
            case Mode.String:
                return InString(b);
            case Mode.Escape:
                return EscapeByte(b);
            case Mode.Literal:
                if (b != Literals[_aux])
                {
                    return false;
                }
                _aux++;
                if (Literals[_aux] == 0)
                {
                    _mode = Mode.AfterValue;
                }
                return true;
            case Mode.Minus:
                return FirstDigit(b);
            case Mode.Zero:
                return b == '.' ? To(Mode.Dot) : (b | 0x20) == 'e' ? To(Mode.Exponent) : EndNumber(b);
            case Mode.Integer:
                return IsDigit(b) || (b == '.' ? To(Mode.Dot) : (b | 0x20) == 'e' ? To(Mode.Exponent) : EndNumber(b));
            case Mode.Dot:
                return IsDigit(b) && To(Mode.Fraction);
            case Mode.Fraction:
                return IsDigit(b) || ((b | 0x20) == 'e' ? To(Mode.Exponent) : EndNumber(b));
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

    // A number ends at the first byte that cannot continue it; that byte is read as what follows a value.
    private bool EndNumber(byte b)
    {
        _mode = Mode.AfterValue;
        return Structural(b);
    }

    private bool FirstDigit(byte b) => b == '0' ? To(Mode.Zero) : IsDigit(b) && To(Mode.Integer);

    /// <summary>Between tokens: whitespace, or what the mode expects next.</summary>
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
                return b == '{' && Open(isObject: true);
            case Mode.ObjectOpen:
                return b == '"' ? BeginString(key: true) : b == '}' && Close();
            case Mode.Key:
                return b == '"' && BeginString(key: true);
            case Mode.Colon:
                return b == ':' && To(Mode.Value);
            case Mode.Value:
                return BeginValue(b);
            case Mode.ArrayOpen:
                return b == ']' ? Close() : BeginValue(b);
            case Mode.AfterValue:
                bool inObject = ((_objects >> (_depth - 1)) & 1) != 0;
                return b == ',' ? To(inObject ? Mode.Key : Mode.Value) : b == (inObject ? '}' : ']') && Close();
            default:
                return false;
        }
    }

    private bool BeginValue(byte b)
    {
        switch (b)
        {
            case (byte)'{':
                return Open(isObject: true);
            case (byte)'[':
                return Open(isObject: false);
            case (byte)'"':
                return BeginString(key: false);
            case (byte)'-':
                return To(Mode.Minus);
            case (byte)'t':
                return BeginLiteral(1);
            case (byte)'f':
                return BeginLiteral(6);
            case (byte)'n':
                return BeginLiteral(12);
            default:
                return FirstDigit(b);
        }
    }

    private bool BeginLiteral(int next)
    {
        _mode = Mode.Literal;
        _aux = (byte)next;
        return true;
    }

    private bool BeginString(bool key)
    {
        _inKey = key;
        _utf8 = 0;
        return To(Mode.String);
    }

    private bool Open(bool isObject)
    {
        if (_depth == MaxDepth)
        {
            return false;
        }
        if (isObject)
        {
            _objects |= 1UL << _depth;
        }
        else
        {
            _objects &= ~(1UL << _depth);
        }
        _depth++;
        return To(isObject ? Mode.ObjectOpen : Mode.ArrayOpen);
    }

    private bool Close()
    {
        _depth--;
        return To(_depth == 0 ? Mode.Done : Mode.AfterValue);
    }

    private bool InString(byte b)
    {
        if (_utf8 != 0)
        {
            return JsonTextBytes.Utf8Continue(ref _utf8, b);
        }
        if (b < 0x80)
        {
            // Control characters must be escaped; a quote ends the string.
            return b == '"' ? To(_inKey ? Mode.Colon : Mode.AfterValue) : b == '\\' ? BeginEscape() : b >= 0x20;
        }
        _utf8 = JsonTextBytes.Utf8Lead(b);
        return _utf8 != 0;
    }

    private bool BeginEscape()
    {
        _aux = 0;
        return To(Mode.Escape);
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

    /// <summary>What the automaton takes next, in words, for an error that says where a reply could not go on.</summary>
    public readonly string Expected() => _mode switch
    {
        Mode.Start => "the opening '{'",
        Mode.ObjectOpen => "a key's '\"' or '}'",
        Mode.Key => "a key's '\"'",
        Mode.Colon => "':'",
        Mode.Value => "a value",
        Mode.ArrayOpen => "a value or ']'",
        Mode.AfterValue => ((_objects >> (_depth - 1)) & 1) != 0 ? "',' or '}'" : "',' or ']'",
        Mode.String or Mode.Escape => "more of a string",
        Mode.Literal => "the rest of a literal",
        Mode.Done => "nothing (the object is complete)",
        _ => "more of a number",
    } + (_mode <= Mode.AfterValue ? _whitespace.Note() : "");

    /// <summary>
    /// Equal states take the same bytes from here on: the fields no later byte reads before it writes them are left
    /// out (the nesting bits above the depth, the literal's or escape's progress outside a literal or escape, whether
    /// a string is a key outside a string), so that two replies in the same place share one mask in the cache
    /// (`{"a":true,"b":"` and `{"a":1,"b":"` were two keys, and 64 interleaved replies made twice the walks).
    /// </summary>
    public readonly bool Equals(JsonPrefix other) => Key() == other.Key();

    public override readonly bool Equals(object? obj) => obj is JsonPrefix other && Equals(other);

    public override readonly int GetHashCode() => Key().GetHashCode();

    private readonly (ulong Objects, Mode Mode, byte Depth, byte Aux, byte Utf8, WhitespaceRun Whitespace, bool InKey) Key() =>
        (_depth == MaxDepth ? _objects : _objects & ((1UL << _depth) - 1), _mode, _depth,
            _mode is Mode.Literal or Mode.Escape ? _aux : (byte)0,
            _utf8, _whitespace,
            _inKey && _mode is Mode.String or Mode.Escape);

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
