using System.Text;

namespace Copal.Model.Tokenization.Models;

/// <summary>
/// The tokenizer.json BPE model with HF's word-merge semantics: a word starts as one symbol per code point (unknown
/// ones become byte-fallback tokens &lt;0xNN&gt; or the unk token, consecutive unks fused when fuse_unk), then the
/// adjacent pair with the lowest merge rank is merged, leftmost first on ties, until no pair has a merge.
/// </summary>
internal sealed class BpeModel
{
    /// <summary>Words longer than this are not cached (they are rare and would evict many short ones).</summary>
    private const int MaxCachedWordLength = 256;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<long, Merge> _merges;
    private readonly int[] _byteTokens; // id of <0xNN>, or -1
    private readonly int[] _bmpCharIds; // id of each single-char token, or -1
    // HF's default is 10k words; a corpus like WikiText has ~30k distinct words, and an entry costs ~100 bytes,
    // so a larger bound avoids thrashing at a few MB of memory.
    private readonly WordCache _cache = new(capacity: 100_000);

    /// <summary>Result of merging a pair: its rank (priority) and the id of the merged token.</summary>
    internal readonly record struct Merge(int Rank, int NewId);

    public BpeModel(Dictionary<string, int> vocab, string?[] idToToken, Dictionary<long, Merge> merges,
        int? unkId, bool fuseUnk, bool byteFallback, bool ignoreMerges)
    {
        _vocab = vocab;
        IdToToken = idToToken;
        _merges = merges;
        UnkId = unkId;
        FuseUnk = fuseUnk;
        ByteFallback = byteFallback;
        IgnoreMerges = ignoreMerges;
        _byteTokens = new int[256];
        for (int b = 0; b < 256; b++)
        {
            _byteTokens[b] = vocab.TryGetValue($"<0x{b:X2}>", out int id) ? id : -1;
        }
        _bmpCharIds = new int[65536];
        Array.Fill(_bmpCharIds, -1);
        foreach ((string token, int id) in vocab)
        {
            if (token.Length == 1)
            {
                _bmpCharIds[token[0]] = id;
            }
        }
        SplitsAtMetaspace = ComputeSplitsAtMetaspace();
    }

    /// <summary>Model tokens by id (null where the vocab has a gap).</summary>
    public string?[] IdToToken { get; }

    public int? UnkId { get; }
    public bool FuseUnk { get; }
    public bool ByteFallback { get; }
    public bool IgnoreMerges { get; }

    /// <summary>
    /// True when no merge can produce a token with "▁" right after another char than "▁" (checked over every merge
    /// result at load). Then BPE of a word equals BPE of its parts cut before each such "▁", which lets
    /// SentencePiece-style tokenizers without a pre-tokenizer (Llama-2) cache short words instead of merging the
    /// whole input as one word. This is a proof-backed shortcut, not an approximation.
    /// </summary>
    public bool SplitsAtMetaspace { get; }

    public int VocabCount => _vocab.Count;

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    /// <summary>Appends the ids of <paramref name="word"/>.</summary>
    public void Tokenize(string word, List<int> output)
    {
        if (word.Length == 0)
        {
            return;
        }
        if (!SplitsAtMetaspace)
        {
            TokenizeCached(word, output);
            return;
        }
        int start = 0;
        for (int i = 1; i < word.Length; i++)
        {
            if (word[i] == '\u2581' && word[i - 1] != '\u2581')
            {
                TokenizeCached(word[start..i], output);
                start = i;
            }
        }
        TokenizeCached(start == 0 ? word : word[start..], output);
    }

    private void TokenizeCached(string word, List<int> output)
    {
        if (IgnoreMerges && _vocab.TryGetValue(word, out int whole))
        {
            output.Add(whole);
            return;
        }
        bool cacheable = word.Length <= MaxCachedWordLength;
        if (cacheable && _cache.TryGet(word, out int[] cached))
        {
            output.AddRange(cached);
            return;
        }
        int[] ids = MergeWord(word);
        if (cacheable)
        {
            _cache.Add(word, ids);
        }
        output.AddRange(ids);
    }

    /// <summary>Runs the merge loop on one word (no cache).</summary>
    internal int[] MergeWord(string word)
    {
        // Symbols in a doubly linked list over arrays; a removed symbol has Len 0.
        var ids = new List<int>(word.Length);
        var lens = new List<int>(word.Length);
        int pendingUnkLen = 0;
        for (int i = 0; i < word.Length;)
        {
            int n = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            if (n == 1 && _bmpCharIds[word[i]] >= 0)
            {
                FlushUnk(ids, lens, ref pendingUnkLen);
                ids.Add(_bmpCharIds[word[i]]);
                lens.Add(1);
                i++;
                continue;
            }
            string ch = word.Substring(i, n);
            i += n;
            if (_vocab.TryGetValue(ch, out int id))
            {
                FlushUnk(ids, lens, ref pendingUnkLen);
                ids.Add(id);
                lens.Add(n);
                continue;
            }
            if (ByteFallback && TryAddBytes(ch, ids, lens, ref pendingUnkLen))
            {
                continue;
            }
            if (UnkId is null)
            {
                // HF drops a char it cannot represent when the model has no unk token; byte-level vocabularies
                // cover every byte, so this only happens with incomplete custom vocabularies.
                continue;
            }
            if (FuseUnk)
            {
                pendingUnkLen += n;
            }
            else
            {
                ids.Add(UnkId.Value);
                lens.Add(n);
            }
        }
        FlushUnk(ids, lens, ref pendingUnkLen);
        return MergeSymbols(ids);
    }

    private void FlushUnk(List<int> ids, List<int> lens, ref int pendingUnkLen)
    {
        if (pendingUnkLen > 0)
        {
            ids.Add(UnkId!.Value);
            lens.Add(pendingUnkLen);
            pendingUnkLen = 0;
        }
    }

    private bool TryAddBytes(string ch, List<int> ids, List<int> lens, ref int pendingUnkLen)
    {
        Span<byte> bytes = stackalloc byte[4];
        int count = Encoding.UTF8.GetBytes(ch, bytes);
        for (int b = 0; b < count; b++)
        {
            if (_byteTokens[bytes[b]] < 0)
            {
                return false;
            }
        }
        FlushUnk(ids, lens, ref pendingUnkLen);
        for (int b = 0; b < count; b++)
        {
            ids.Add(_byteTokens[bytes[b]]);
            lens.Add(1);
        }
        return true;
    }

    private int[] MergeSymbols(List<int> initial)
    {
        int n = initial.Count;
        if (n <= 1)
        {
            return [.. initial];
        }
        int[] sym = [.. initial];
        int[] prev = new int[n];
        int[] next = new int[n];
        bool[] alive = new bool[n];
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            alive[i] = true;
        }
        // Priority = (rank, position): lowest rank first, leftmost first among equal ranks (equal rank = same pair).
        var queue = new PriorityQueue<(int Pos, int NewId), long>(n);
        for (int i = 0; i + 1 < n; i++)
        {
            if (_merges.TryGetValue(Key(sym[i], sym[i + 1]), out Merge m))
            {
                queue.Enqueue((i, m.NewId), ((long)m.Rank << 32) | (uint)i);
            }
        }
        int remaining = n;
        while (queue.TryDequeue(out var top, out _))
        {
            int pos = top.Pos;
            int right = next[pos];
            // Stale entry: the left symbol was merged away, or the pair changed since it was queued.
            if (!alive[pos] || right < 0 || !_merges.TryGetValue(Key(sym[pos], sym[right]), out Merge cur) || cur.NewId != top.NewId)
            {
                continue;
            }
            sym[pos] = top.NewId;
            alive[right] = false;
            remaining--;
            next[pos] = next[right];
            if (next[right] >= 0)
            {
                prev[next[right]] = pos;
            }
            if (prev[pos] >= 0 && _merges.TryGetValue(Key(sym[prev[pos]], sym[pos]), out Merge left))
            {
                queue.Enqueue((prev[pos], left.NewId), ((long)left.Rank << 32) | (uint)prev[pos]);
            }
            if (next[pos] >= 0 && _merges.TryGetValue(Key(sym[pos], sym[next[pos]]), out Merge rightMerge))
            {
                queue.Enqueue((pos, rightMerge.NewId), ((long)rightMerge.Rank << 32) | (uint)pos);
            }
        }
        int[] result = new int[remaining];
        int k = 0;
        for (int i = 0; i >= 0; i = next[i])
        {
            result[k++] = sym[i];
        }
        return result;
    }

    internal static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private bool ComputeSplitsAtMetaspace()
    {
        if (IgnoreMerges || !_vocab.ContainsKey("\u2581"))
        {
            return false;
        }
        foreach (Merge m in _merges.Values)
        {
            string t = IdToToken[m.NewId]!;
            for (int i = 1; i < t.Length; i++)
            {
                if (t[i] == '\u2581' && t[i - 1] != '\u2581')
                {
                    return false;
                }
            }
        }
        return true;
    }
}
