using System.Runtime.CompilerServices;

namespace Copal.Model.Generation.Constraints;

/// <summary>
/// The run of whitespace between two JSON tokens so far, as JSON mode's automaton and a schema's both bound it: at
/// most <see cref="JsonPrefix.MaxNewlines"/> line feed and <see cref="JsonPrefix.MaxOtherWhitespace"/> spaces, tabs and
/// carriage returns. Two bytes of the automaton's state, equal by value, so that it counts in the state's equality.
/// </summary>
internal record struct WhitespaceRun
{
    private byte _newlines;
    private byte _other;

    /// <summary>
    /// Whether <paramref name="b"/> is JSON whitespace (space, tab, line feed, carriage return). If it is, it is counted
    /// into the run, and <paramref name="taken"/> says whether the run still had room for it; any other byte ends the run.
    /// </summary>
    // Inlined: the mask's walk meets it at every node of the token trie between tokens.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Take(byte b, out bool taken)
    {
        if (b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
        {
            taken = b == '\n' ? _newlines++ < JsonPrefix.MaxNewlines : _other++ < JsonPrefix.MaxOtherWhitespace;
            return true;
        }
        (_newlines, _other, taken) = (0, 0, false);
        return false;
    }

    /// <summary>For an error that says what the automaton takes next: the run so far and its bounds, where there is one.</summary>
    public readonly string Note() => _newlines + _other > 0
        ? FormattableString.Invariant($" (after {_newlines + _other} bytes of whitespace; a run holds at most {JsonPrefix.MaxNewlines} line feed and {JsonPrefix.MaxOtherWhitespace} other whitespace bytes)")
        : "";
}
