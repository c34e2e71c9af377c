namespace Copal.Model.Generation.Constraints;

/// <summary>
/// The bytes of a vocabulary's tokens as a trie, for the masks of constrained decoding: a walk that refuses a byte
/// skips every token that starts with the bytes so far, so a step looks at each shared prefix once rather than at
/// every token's every byte. The nodes are laid out in depth-first order (a node's subtree is the nodes up to its
/// <c>_end</c>), so a walk reads the arrays front to back. Immutable once built; built once per vocabulary.
/// </summary>
internal sealed class TokenTrie
{
    // Node 0 is the root (the empty prefix); node n > 0 adds _byte[n] to its parent's bytes, at depth _depth[n].
    private readonly byte[] _byte;
    private readonly ushort[] _depth;
    private readonly int[] _end;
    // The tokens whose bytes end at node n: _tokens[_tokenStart[n] .. _tokenStart[n + 1]].
    private readonly int[] _tokenStart;
    private readonly int[] _tokens;
    // Each token's bytes, to advance a state by the token chosen: _bytes[_byteStart[id] .. _byteStart[id + 1]].
    private readonly byte[] _bytes;
    private readonly int[] _byteStart;

    /// <summary>
    /// The trie of token ids 0 .. <c>tokenBytes.Count</c> − 1; a null or empty entry is a token the walk never offers
    /// (a special token, a stop token, an id with no text).
    /// </summary>
    public TokenTrie(IReadOnlyList<byte[]?> tokenBytes)
    {
        ArgumentNullException.ThrowIfNull(tokenBytes);
        int count = tokenBytes.Count;
        _byteStart = new int[count + 1];
        for (int id = 0; id < count; id++)
        {
            _byteStart[id + 1] = _byteStart[id] + (tokenBytes[id]?.Length ?? 0);
        }
        _bytes = new byte[_byteStart[count]];
        var ids = new List<int>(count);
        for (int id = 0; id < count; id++)
        {
            if (tokenBytes[id] is { Length: > 0 } b)
            {
                b.CopyTo(_bytes, _byteStart[id]);
                ids.Add(id);
            }
        }
        // In byte order a token comes right after the tokens it extends, so the trie grows along one path at a time.
        ids.Sort((a, b) => Bytes(a).SequenceCompareTo(Bytes(b)) is int c && c != 0 ? c : a.CompareTo(b));
        var bytes = new List<byte> { 0 };
        var depths = new List<ushort> { 0 };
        var ends = new List<int> { 0 };
        var tokenStart = new List<int> { 0 };
        var tokens = new List<int>(ids.Count);
        var path = new List<int> { 0 }; // the nodes from the root to the last token's end
        ReadOnlySpan<byte> previous = default;
        foreach (int id in ids)
        {
            ReadOnlySpan<byte> token = Bytes(id);
            int common = token.CommonPrefixLength(previous);
            while (path.Count > common + 1)
            {
                ends[path[^1]] = bytes.Count;
                path.RemoveAt(path.Count - 1);
            }
            for (int i = common; i < token.Length; i++)
            {
                if (i + 1 > ushort.MaxValue)
                {
                    throw new ArgumentException($"token {id} has {token.Length} bytes; the trie holds tokens of at most {ushort.MaxValue}", nameof(tokenBytes));
                }
                path.Add(bytes.Count);
                bytes.Add(token[i]);
                depths.Add((ushort)(i + 1));
                ends.Add(0);
                tokenStart.Add(tokens.Count);
            }
            tokens.Add(id);
            previous = token;
        }
        while (path.Count > 0)
        {
            ends[path[^1]] = bytes.Count;
            path.RemoveAt(path.Count - 1);
        }
        tokenStart.Add(tokens.Count);
        _byte = [.. bytes];
        _depth = [.. depths];
        _end = [.. ends];
        _tokenStart = [.. tokenStart];
        _tokens = [.. tokens];
        MaxTokenBytes = depths.Max();
        TokenCount = count;
    }

    /// <summary>The ids the trie was built over: 0 .. this − 1.</summary>
    public int TokenCount { get; }

    /// <summary>The longest token's bytes, the deepest a walk goes.</summary>
    public int MaxTokenBytes { get; }

    /// <summary>Nodes, the root included.</summary>
    public int NodeCount => _byte.Length;

    /// <summary>The bytes of token <paramref name="id"/>; empty for a token the walk never offers.</summary>
    public ReadOnlySpan<byte> Bytes(int id) => _bytes.AsSpan(_byteStart[id], _byteStart[id + 1] - _byteStart[id]);

    /// <summary>
    /// Writes into <paramref name="allowed"/> the tokens whose bytes <paramref name="state"/> takes whole, in byte order
    /// of the tokens, and returns how many; <paramref name="allowed"/> must hold <see cref="TokenCount"/> ids.
    /// </summary>
    public int Allowed<TState>(TState state, Span<int> allowed)
        where TState : struct, IBytePrefix<TState>
    {
        // The state after each byte of the path to the node at hand: a node's parent is the entry before its depth.
        // A generic struct cannot be stack-allocated when it holds references (a schema's state does): the array is small.
        TState[] states = new TState[MaxTokenBytes + 1];
        states[0] = state;
        int count = 0;
        int n = 1;
        while (n < _byte.Length)
        {
            int depth = _depth[n];
            TState s = states[depth - 1];
            if (!s.TryAdvance(_byte[n]))
            {
                n = _end[n]; // no token under this node can be taken
                continue;
            }
            states[depth] = s;
            for (int t = _tokenStart[n]; t < _tokenStart[n + 1]; t++)
            {
                allowed[count++] = _tokens[t];
            }
            n++;
        }
        return count;
    }
}
