namespace Copal.Model.Serving;

/// <summary>
/// Finds stop texts in streamed text: text is released as soon as it cannot be the start of a stop text, and held
/// back while it might be, so the caller never sees any part of a stop text.
/// </summary>
internal sealed class StopTextMatcher(IReadOnlyList<string> stops)
{
    private string _held = "";

    /// <summary>Characters pushed and not yet released: they may be the start of a stop text.</summary>
    public int Held => _held.Length;

    /// <summary>Adds <paramref name="text"/>; returns what can be released. On a match, the text before the stop and <paramref name="matched"/> true.</summary>
    public string Push(string text, out bool matched)
    {
        matched = false;
        if (stops.Count == 0)
        {
            return text;
        }
        string all = _held + text;
        int first = -1;
        foreach (string stop in stops)
        {
            int at = all.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
            {
                first = at;
            }
        }
        if (first >= 0)
        {
            matched = true;
            _held = "";
            return all[..first];
        }
        int keep = 0;
        foreach (string stop in stops)
        {
            // The longest end of the text that is a proper start of this stop text.
            for (int n = Math.Min(stop.Length - 1, all.Length); n > keep; n--)
            {
                if (all.AsSpan(all.Length - n).SequenceEqual(stop.AsSpan(0, n)))
                {
                    keep = n;
                    break;
                }
            }
        }
        _held = all[(all.Length - keep)..];
        return all[..(all.Length - keep)];
    }

    /// <summary>At the end of generation: the held text and <paramref name="text"/> (no stop text can complete any more).</summary>
    public string Flush(string text)
    {
        string rest = Push(text, out bool matched);
        if (matched)
        {
            return rest;
        }
        rest += _held;
        _held = "";
        return rest;
    }
}
