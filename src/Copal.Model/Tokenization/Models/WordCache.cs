namespace Copal.Model.Tokenization.Models;

/// <summary>
/// A bounded, thread-safe least-recently-used cache from word to token ids. One lock guards a dictionary and a
/// recency list; the work it saves (a BPE merge loop) is far larger than the lock.
/// </summary>
internal sealed class WordCache
{
    private readonly int _capacity;
    private readonly Dictionary<string, LinkedListNode<(string Word, int[] Ids)>> _map;
    private readonly Dictionary<string, LinkedListNode<(string Word, int[] Ids)>>.AlternateLookup<ReadOnlySpan<char>> _bySpan;
    private readonly LinkedList<(string Word, int[] Ids)> _recency = new();
    private readonly Lock _lock = new();

    public WordCache(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _capacity = capacity;
        _map = new Dictionary<string, LinkedListNode<(string, int[])>>(capacity, StringComparer.Ordinal);
        _bySpan = _map.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _map.Count;
            }
        }
    }

    public bool TryGet(ReadOnlySpan<char> word, out int[] ids)
    {
        lock (_lock)
        {
            if (_bySpan.TryGetValue(word, out var node))
            {
                _recency.Remove(node);
                _recency.AddFirst(node);
                ids = node.Value.Ids;
                return true;
            }
        }
        ids = [];
        return false;
    }

    public void Add(string word, int[] ids)
    {
        lock (_lock)
        {
            if (_map.TryGetValue(word, out var existing))
            {
                _recency.Remove(existing);
                _map.Remove(word);
            }
            else if (_map.Count >= _capacity)
            {
                var oldest = _recency.Last!;
                _recency.RemoveLast();
                _map.Remove(oldest.Value.Word);
            }
            _map[word] = _recency.AddFirst((word, ids));
        }
    }
}
