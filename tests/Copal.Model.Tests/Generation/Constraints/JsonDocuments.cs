using System.Globalization;
using System.Text;
using System.Text.Json;
using Copal.Model.Generation.Constraints;

namespace Copal.Model.Tests.Generation.Constraints;

/// <summary>
/// Random JSON objects for the automaton's tests, written byte by byte in every form RFC 8259 allows (whitespace runs
/// within JSON mode's caps, escapes of every kind, raw UTF-8 of 1 to 4 bytes, numbers of every shape), and the
/// independent judges the tests compare the automaton with.
/// </summary>
internal sealed class JsonDocuments(int seed)
{
    private readonly Random _rng = new(seed);
    private readonly List<byte> _out = [];

    /// <summary>A document whose top-level value is an object, nested at most <paramref name="maxDepth"/> levels.</summary>
    public byte[] Next(int maxDepth = 5)
    {
        _out.Clear();
        Object(maxDepth - 1);
        return [.. _out];
    }

    private void Object(int depth)
    {
        Put("{");
        int members = depth > 0 ? _rng.Next(0, 5) : _rng.Next(0, 2);
        Whitespace();
        for (int i = 0; i < members; i++)
        {
            if (i > 0)
            {
                Put(",");
                Whitespace();
            }
            String();
            Whitespace();
            Put(":");
            Whitespace();
            Value(depth);
            Whitespace();
        }
        Put("}");
    }

    private void Value(int depth)
    {
        switch (_rng.Next(depth > 0 ? 8 : 6))
        {
            case 0:
            case 1:
                String();
                break;
            case 2:
            case 3:
                Number();
                break;
            case 4:
                Put(new[] { "true", "false", "null" }[_rng.Next(3)]);
                break;
            case 5:
                Put(_rng.Next(2) == 0 ? "[]" : "{}");
                break;
            case 6:
                Object(depth - 1);
                break;
            default:
                Put("[");
                Whitespace();
                int items = _rng.Next(0, 4);
                for (int i = 0; i < items; i++)
                {
                    if (i > 0)
                    {
                        Put(",");
                        Whitespace();
                    }
                    Value(depth - 1);
                    Whitespace();
                }
                Put("]");
                break;
        }
    }

    private void Number()
    {
        if (_rng.Next(3) == 0)
        {
            Put("-");
        }
        Put(_rng.Next(3) == 0 ? "0" : _rng.NextInt64(1, long.MaxValue).ToString(CultureInfo.InvariantCulture)[..(1 + _rng.Next(6))]);
        if (_rng.Next(3) == 0)
        {
            Put("." + _rng.Next(0, 100000).ToString(CultureInfo.InvariantCulture));
        }
        if (_rng.Next(3) == 0)
        {
            Put((_rng.Next(2) == 0 ? "e" : "E") + new[] { "", "+", "-" }[_rng.Next(3)] + _rng.Next(0, 400).ToString(CultureInfo.InvariantCulture));
        }
    }

    private void String()
    {
        Put("\"");
        int length = _rng.Next(0, 10);
        for (int i = 0; i < length; i++)
        {
            switch (_rng.Next(10))
            {
                case 0:
                    Put(new[] { "\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t" }[_rng.Next(8)]);
                    break;
                case 1:
                    // A code point of the Basic Multilingual Plane as an escape, in either case of hex digit.
                    int c = _rng.Next(0, 0xD800);
                    Put("\\u" + Hex(c));
                    break;
                case 2:
                    // A character past it as a surrogate pair of escapes.
                    int cp = _rng.Next(0x10000, 0x110000) - 0x10000;
                    Put("\\u" + Hex(0xD800 + (cp >> 10)) + "\\u" + Hex(0xDC00 + (cp & 0x3FF)));
                    break;
                case 3:
                    // Raw UTF-8 of 2, 3 or 4 bytes (the edges of each range included).
                    int[] picks = [0x80, 0x7FF, 0x800, 0xFFF, 0x1000, 0xD7FF, 0xE000, 0xFFFD, 0x10000, 0x10FFFF, _rng.Next(0x80, 0xD800), _rng.Next(0xE000, 0x110000)];
                    Put(char.ConvertFromUtf32(picks[_rng.Next(picks.Length)]));
                    break;
                case 4:
                    Put("\u007F");
                    break;
                default:
                    char a = (char)_rng.Next(0x20, 0x7F);
                    Put(a is '"' or '\\' ? "\\" + a : a.ToString());
                    break;
            }
        }
        Put("\"");
    }

    private string Hex(int v)
    {
        string h = v.ToString("x4", CultureInfo.InvariantCulture);
        return _rng.Next(2) == 0 ? h : h.ToUpperInvariant();
    }

    // A run within the caps: line feeds and up to 6 other whitespace bytes, shuffled; often none.
    private void Whitespace()
    {
        if (_rng.Next(2) == 0)
        {
            return;
        }
        var run = new List<char>();
        run.AddRange(Enumerable.Repeat('\n', _rng.Next(0, JsonPrefix.MaxNewlines + 1)));
        int others = _rng.Next(0, 7);
        for (int i = 0; i < others; i++)
        {
            run.Add(" \t\r"[_rng.Next(3)]);
        }
        foreach (char w in run.OrderBy(_ => _rng.Next()))
        {
            _out.Add((byte)w);
        }
    }

    private void Put(string s) => _out.AddRange(Encoding.UTF8.GetBytes(s));

    /// <summary>
    /// What JSON mode must accept, judged without the automaton: System.Text.Json parses it (at most 64 levels), its
    /// top-level value is an object, every string and name reads as text (valid UTF-8, paired surrogate escapes: the
    /// parser itself lets these through), and JSON mode's own bounds hold: whitespace runs within the caps and none
    /// before or after the object.
    /// </summary>
    public static bool IsJsonModeText(byte[] text)
    {
        try
        {
            using JsonDocument doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = JsonPrefix.MaxDepth });
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                return false;
            }
            ReadAllText(doc.RootElement);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            return false;
        }
        return WhitespaceWithinCaps(text) && text[0] == '{' && text[^1] == '}';
    }

    private static void ReadAllText(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (JsonProperty p in e.EnumerateObject())
                {
                    _ = p.Name;
                    ReadAllText(p.Value);
                }
                break;
            case JsonValueKind.Array:
                foreach (JsonElement item in e.EnumerateArray())
                {
                    ReadAllText(item);
                }
                break;
            case JsonValueKind.String:
                _ = e.GetString();
                break;
        }
    }

    /// <summary>Every run of whitespace outside the strings of a valid JSON text holds at most JSON mode's line feeds and other bytes.</summary>
    public static bool WhitespaceWithinCaps(byte[] text)
    {
        bool inString = false, escaped = false;
        int newlines = 0, others = 0;
        foreach (byte b in text)
        {
            if (inString)
            {
                (inString, escaped) = escaped ? (true, false) : (b != '"', b == '\\');
                continue;
            }
            if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                if (b == '\n' ? ++newlines > JsonPrefix.MaxNewlines : ++others > JsonPrefix.MaxOtherWhitespace)
                {
                    return false;
                }
                continue;
            }
            newlines = others = 0;
            inString = b == '"';
        }
        return true;
    }

    /// <summary>
    /// Finishes the text <paramref name="state"/> stands at with the automaton's own choices (closing strings, values
    /// and brackets first) and says whether it reached a complete object: every prefix the automaton takes must have a
    /// completion, or a mask could lead a model where no token goes on.
    /// </summary>
    public static bool CanComplete(JsonPrefix state)
    {
        // In this order a walk closes what is open before it opens anything: a string, then a container, then a value.
        ReadOnlySpan<byte> order = "\"}]:0DCurlase\\"u8;
        ReadOnlySpan<byte> continuation = [0x80, 0x90, 0xA0];
        for (int step = 0; step < 4000 && !state.IsComplete; step++)
        {
            bool moved = false;
            foreach (byte b in order)
            {
                if (state.TryAdvance(b))
                {
                    moved = true;
                    break;
                }
            }
            foreach (byte b in continuation)
            {
                if (!moved && state.TryAdvance(b))
                {
                    moved = true;
                }
            }
            if (!moved && !state.TryAdvance((byte)'{'))
            {
                return false;
            }
        }
        return state.IsComplete;
    }
}
