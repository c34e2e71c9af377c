namespace Copal.Model.Generation.Constraints.Schema;

/// <summary>
/// The byte tries of a schema's literals, all in one table: each enum's (or const's, or true, false and null's) JSON
/// texts under one root, each object's quoted keys under another. A step reads one node's edges (a binary search of
/// at most 256 bytes), so a literal of a big enum costs its length, not the enum's size.
/// </summary>
internal sealed class LiteralTrie
{
    private readonly int[] _edgeStart;
    private readonly byte[] _edgeByte;
    private readonly int[] _edgeTarget;
    private readonly int[] _terminal;
    private readonly int[][] _below;

    private LiteralTrie(int[] edgeStart, byte[] edgeByte, int[] edgeTarget, int[] terminal, int[][] below)
    {
        _edgeStart = edgeStart;
        _edgeByte = edgeByte;
        _edgeTarget = edgeTarget;
        _terminal = terminal;
        _below = below;
    }

    public int NodeCount => _terminal.Length;

    /// <summary>The node after <paramref name="node"/> takes <paramref name="b"/>, or −1.</summary>
    public int Child(int node, byte b)
    {
        int lo = _edgeStart[node], hi = _edgeStart[node + 1] - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            byte m = _edgeByte[mid];
            if (m == b)
            {
                return _edgeTarget[mid];
            }
            if (m < b)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return -1;
    }

    public bool IsLeaf(int node) => _edgeStart[node] == _edgeStart[node + 1];

    /// <summary>The literal that ends at <paramref name="node"/> (a key's property index; 0 for a value), or −1.</summary>
    public int Terminal(int node) => _terminal[node];

    /// <summary>The terminals at and below <paramref name="node"/>, in increasing order.</summary>
    public int[] Below(int node) => _below[node];

    /// <summary>Builds the tries; each root is a list of (bytes, terminal) with distinct bytes.</summary>
    internal sealed class Builder
    {
        private readonly List<SortedDictionary<byte, int>> _children = [];
        private readonly List<int> _terminals = [];

        /// <summary>The most nodes the tries may hold together; a schema past it is refused.</summary>
        public const int MaxNodes = 1 << 20;

        public int NodeCount => _terminals.Count;

        /// <summary>A new root holding <paramref name="literals"/>.</summary>
        public int Add(IEnumerable<(byte[] Bytes, int Terminal)> literals)
        {
            int root = NewNode();
            foreach ((byte[] bytes, int terminal) in literals)
            {
                int node = root;
                foreach (byte b in bytes)
                {
                    if (!_children[node].TryGetValue(b, out int next))
                    {
                        next = NewNode();
                        _children[node][b] = next;
                    }
                    node = next;
                }
                _terminals[node] = terminal;
            }
            return root;
        }

        private int NewNode()
        {
            if (_terminals.Count == MaxNodes)
            {
                throw new SchemaNotSupportedException("enum", "#", $"the schema's literals (enum and const values, keys) need more than {MaxNodes} trie nodes");
            }
            _children.Add([]);
            _terminals.Add(-1);
            return _terminals.Count - 1;
        }

        public LiteralTrie Build()
        {
            int count = _terminals.Count;
            var edgeStart = new int[count + 1];
            var edgeByte = new List<byte>();
            var edgeTarget = new List<int>();
            for (int n = 0; n < count; n++)
            {
                edgeStart[n] = edgeByte.Count;
                foreach ((byte b, int target) in _children[n])
                {
                    edgeByte.Add(b);
                    edgeTarget.Add(target);
                }
            }
            edgeStart[count] = edgeByte.Count;
            // Children are numbered after their parents: from the last node back, each node's terminals are known below it.
            var below = new int[count][];
            int[] zero = [0];
            for (int n = count - 1; n >= 0; n--)
            {
                // The common case, an enum's values (all terminals 0), shares one array.
                if (_terminals[n] is -1 or 0 && _children[n].Values.All(c => ReferenceEquals(below[c], zero)) && (_terminals[n] == 0 || _children[n].Count > 0))
                {
                    below[n] = zero;
                    continue;
                }
                var set = new SortedSet<int>();
                if (_terminals[n] >= 0)
                {
                    set.Add(_terminals[n]);
                }
                foreach (int child in _children[n].Values)
                {
                    set.UnionWith(below[child]);
                }
                below[n] = [.. set];
            }
            return new LiteralTrie(edgeStart, [.. edgeByte], [.. edgeTarget], [.. _terminals], below);
        }
    }
}
