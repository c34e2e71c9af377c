namespace Copal.Model.Generation.Constraints;

/// <summary>
/// A byte-level automaton of the prefixes of the texts a reply may be, as constrained decoding walks it through the
/// token trie: a value type, copied at every node of the walk, whose equal states take the same bytes from here on (so
/// a mask made for one serves every equal state).
/// </summary>
internal interface IBytePrefix<TSelf> : IEquatable<TSelf>
    where TSelf : struct, IBytePrefix<TSelf>
{
    /// <summary>The text is whole: nothing may follow but the end of the reply.</summary>
    bool IsComplete { get; }

    /// <summary>Takes <paramref name="b"/> when the bytes so far followed by it are still an accepted prefix; otherwise returns false and leaves the state as it was.</summary>
    bool TryAdvance(byte b);

    /// <summary>Takes every byte of <paramref name="bytes"/>, or none (returning false) if one is refused.</summary>
    bool TryAdvance(ReadOnlySpan<byte> bytes);

    /// <summary>What the automaton takes next, in words, for an error that says where a reply could not go on.</summary>
    string Expected();
}

/// <summary>What every <see cref="IBytePrefix{TSelf}"/> does alike, written once (generic over the value type, so the JIT makes one copy per automaton and boxes nothing).</summary>
internal static class BytePrefix
{
    /// <summary>Advances <paramref name="state"/> over every byte of <paramref name="bytes"/>, or leaves it as it was (returning false) if one is refused.</summary>
    public static bool TryAdvanceAll<T>(ref T state, ReadOnlySpan<byte> bytes)
        where T : struct, IBytePrefix<T>
    {
        T next = state;
        foreach (byte b in bytes)
        {
            if (!next.TryAdvance(b))
            {
                return false;
            }
        }
        state = next;
        return true;
    }
}
