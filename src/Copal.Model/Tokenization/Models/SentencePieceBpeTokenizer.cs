using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Models;

/// <summary>
/// Copal's own tokenizer.json BPE model for SentencePiece-style vocabularies (Llama-2, Mistral, TinyLlama,
/// stories260K), as a <see cref="Tokenizer"/>. Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> has no byte
/// fallback, so this model stays ours. HF's word-merge semantics: a word starts as one symbol per code point (unknown
/// ones become byte-fallback tokens &lt;0xNN&gt; or the unk token, consecutive unks fused when fuse_unk), then the
/// adjacent pair with the lowest merge rank is merged, leftmost first on ties, until no pair has a merge.
/// </summary>
/// <remarks>
/// On its own it encodes already normalized text ("▁Hello▁world") as one word and decodes with the SentencePiece
/// rules (byte runs to UTF-8, "▁" to space). <see cref="CopalTokenizer"/> runs it behind the file's added tokens,
/// normalizer, pre-tokenizer, post-processor and decoder. Thread-safe.
/// </remarks>
internal sealed class SentencePieceBpeTokenizer : Tokenizer
{
    /// <summary>Words longer than this are not cached (they are rare and would evict many short ones).</summary>
    private const int MaxCachedWordLength = 256;

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    private readonly Dictionary<long, Merge> _merges;
    private readonly int[] _byteTokens; // id of <0xNN>, or -1
    private readonly int[] _bmpCharIds; // id of each single-char token, or -1
    // HF's default is 10k words; a corpus like WikiText has ~30k distinct words, and an entry costs ~100 bytes,
    // so a larger bound avoids thrashing at a few MB of memory.
    private readonly WordCache _cache = new(capacity: 100_000);

    /// <summary>Result of merging a pair: its rank (priority) and the id of the merged token.</summary>
    internal readonly record struct Merge(int Rank, int NewId);

    internal SentencePieceBpeTokenizer(Dictionary<string, int> vocab, string?[] idToToken, Dictionary<long, Merge> merges,
        int? unkId, bool fuseUnk, bool byteFallback, bool ignoreMerges)
    {
        _vocab = vocab;
        _vocabBySpan = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        IdToTokenTable = idToToken;
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
    internal string?[] IdToTokenTable { get; }

    public int? UnkId { get; }
    public bool FuseUnk { get; }
    public bool ByteFallback { get; }
    public bool IgnoreMerges { get; }

    /// <summary>
    /// Whether a character may end in no token of its own (<see cref="IModelStage.MayMergeUnknownText"/>): byte
    /// fallback with all 256 byte tokens spells every character; otherwise an unknown one is dropped without an unk
    /// token, or fused into its neighbours' unk with fuse_unk.
    /// </summary>
    public bool MayMergeUnknownText => !(ByteFallback && Array.TrueForAll(_byteTokens, id => id >= 0)) && (UnkId is null || FuseUnk);

    /// <summary>
    /// True when no merge can produce a token with "▁" right after another char than "▁" (checked over every merge
    /// result at load). Then BPE of a word equals BPE of its parts cut before each such "▁", which lets
    /// SentencePiece-style tokenizers without a pre-tokenizer (Llama-2) cache short words instead of merging the
    /// whole input as one word. This is a proof-backed shortcut, not an approximation.
    /// </summary>
    public bool SplitsAtMetaspace { get; }

    internal int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ReadOnlySpan<char> word = text is null ? textSpan : text.AsSpan();
        var tokens = new List<EncodedToken>();
        EncodeTokens(word, 0, tokens);
        int kept = TokenLimit.Keep(tokens, settings.MaxTokenCount);
        tokens.RemoveRange(kept, tokens.Count - kept);
        return new EncodeResults<EncodedToken> { Tokens = tokens, CharsConsumed = TokenLimit.CharsConsumed(tokens, word.Length, kept < tokens.Count) };
    }

    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        ReadOnlySpan<char> word = text is null ? textSpan : text.AsSpan();
        if (settings.MaxTokenCount < int.MaxValue)
        {
            EncodeResults<EncodedToken> limited = EncodeToTokens(text, textSpan, settings);
            return new EncodeResults<int> { Tokens = limited.Tokens.Select(t => t.Id).ToList(), CharsConsumed = limited.CharsConsumed };
        }
        var ids = new List<int>(word.Length / 3 + 1);
        EncodeIds(word, ids);
        return new EncodeResults<int> { Tokens = ids, CharsConsumed = word.Length };
    }

    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings) =>
        EncodeToIds(text, textSpan, settings).Tokens.Count;

    /// <summary>
    /// SentencePiece decoding of the model's tokens: runs of &lt;0xNN&gt; become their UTF-8 text (U+FFFD per byte
    /// when invalid), "▁" becomes a space. Unknown ids are skipped.
    /// </summary>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var pieces = new List<string>();
        int count = 0;
        foreach (int id in ids)
        {
            count++;
            if ((uint)id < (uint)IdToTokenTable.Length && IdToTokenTable[id] is { } token)
            {
                pieces.Add(token);
            }
        }
        string text = string.Concat(new Decoders.ByteFallbackDecoder().DecodeChain(pieces)).Replace('\u2581', ' ');
        return TokenLimit.CopyOut(text, count, destination, out idsConsumed, out charsWritten);
    }

    /// <summary>Appends the ids of <paramref name="word"/> (normalized text, one word).</summary>
    internal void EncodeIds(ReadOnlySpan<char> word, List<int> output) => EncodeIds(word, output, null, 0);

    /// <summary>
    /// As <see cref="EncodeIds(ReadOnlySpan{char}, List{int})"/>; <paramref name="watch"/> hears each piece's offset
    /// (plus <paramref name="offset"/>, the word's own) before it is merged: without a pre-tokenizer the "word" is a
    /// whole text.
    /// </summary>
    internal void EncodeIds(ReadOnlySpan<char> word, List<int> output, EncodeWatch? watch, int offset)
    {
        if (word.Length == 0)
        {
            return;
        }
        if (!SplitsAtMetaspace)
        {
            watch?.At(offset);
            EncodeCached(word, output);
            return;
        }
        int start = 0;
        for (int i = 1; i < word.Length; i++)
        {
            if (word[i] == '\u2581' && word[i - 1] != '\u2581')
            {
                watch?.At(offset + start);
                EncodeCached(word[start..i], output);
                start = i;
            }
        }
        watch?.At(offset + start);
        EncodeCached(word[start..], output);
    }

    /// <summary>Appends the tokens of <paramref name="word"/>, offsets shifted by <paramref name="offset"/>.</summary>
    internal void EncodeTokens(ReadOnlySpan<char> word, int offset, List<EncodedToken> output)
    {
        if (word.Length == 0)
        {
            return;
        }
        if (!SplitsAtMetaspace)
        {
            MergeWord(word, offset, null, output);
            return;
        }
        int start = 0;
        for (int i = 1; i < word.Length; i++)
        {
            if (word[i] == '\u2581' && word[i - 1] != '\u2581')
            {
                MergeWord(word[start..i], offset + start, null, output);
                start = i;
            }
        }
        MergeWord(word[start..], offset + start, null, output);
    }

    private void EncodeCached(ReadOnlySpan<char> word, List<int> output)
    {
        if (IgnoreMerges && _vocabBySpan.TryGetValue(word, out int whole))
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
        int mark = output.Count;
        MergeWord(word, 0, output, null);
        if (cacheable)
        {
            _cache.Add(word.ToString(), output.GetRange(mark, output.Count - mark).ToArray());
        }
    }

    /// <summary>Runs the merge loop on one word (no cache) and appends its tokens, offsets in the word.</summary>
    internal void MergeWordTokens(string word, List<EncodedToken> output, bool wholeWordFirst = true) => MergeWord(word, 0, null, output, wholeWordFirst);

    /// <summary>Runs the merge loop on one word (no cache) and returns its ids.</summary>
    internal int[] MergeWord(string word)
    {
        var ids = new List<int>();
        MergeWord(word, ids);
        return [.. ids];
    }

    /// <summary>
    /// Runs the merge loop on one word (no cache) and appends its ids. <paramref name="wholeWordFirst"/> false merges
    /// even a word that is a vocab token (ignore_merges takes a whole word, not a part of one cut by the caller).
    /// </summary>
    internal void MergeWord(string word, List<int> ids, bool wholeWordFirst = true) => MergeWord(word, 0, ids, null, wholeWordFirst);

    /// <summary>Runs the merge loop on one word; appends ids, or tokens with offsets (word start = <paramref name="offset"/>).</summary>
    private void MergeWord(ReadOnlySpan<char> word, int offset, List<int>? ids, List<EncodedToken>? tokens, bool wholeWordFirst = true)
    {
        if (wholeWordFirst && IgnoreMerges && _vocabBySpan.TryGetValue(word, out int whole))
        {
            ids?.Add(whole);
            tokens?.Add(new EncodedToken(whole, IdToTokenTable[whole]!, new Range(offset, offset + word.Length)));
            return;
        }
        var symbols = new Symbols(word.Length);
        int pendingUnkStart = -1;
        for (int i = 0; i < word.Length;)
        {
            int n = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            int id = n == 1 ? _bmpCharIds[word[i]] : -1;
            if (id < 0 && n == 2 && _vocabBySpan.TryGetValue(word.Slice(i, 2), out int pairId))
            {
                id = pairId;
            }
            if (id >= 0)
            {
                FlushUnk(ref symbols, ref pendingUnkStart, i);
                symbols.Add(id, i, i + n);
            }
            else if (ByteFallback && TryAddBytes(word.Slice(i, n), i, ref symbols, ref pendingUnkStart))
            {
                // added as bytes
            }
            else if (UnkId is null)
            {
                // HF drops a char it cannot represent when the model has no unk token.
            }
            else if (FuseUnk)
            {
                if (pendingUnkStart < 0)
                {
                    pendingUnkStart = i;
                }
            }
            else
            {
                symbols.Add(UnkId.Value, i, i + n);
            }
            i += n;
        }
        FlushUnk(ref symbols, ref pendingUnkStart, word.Length);
        MergeSymbols(ref symbols);
        for (int i = 0; i >= 0 && symbols.Count > 0; i = symbols.Next[i])
        {
            ids?.Add(symbols.Ids[i]);
            tokens?.Add(new EncodedToken(symbols.Ids[i], IdToTokenTable[symbols.Ids[i]]!,
                new Range(offset + symbols.Starts[i], offset + symbols.Ends[i])));
        }
    }

    private void FlushUnk(ref Symbols symbols, ref int pendingUnkStart, int end)
    {
        if (pendingUnkStart >= 0)
        {
            symbols.Add(UnkId!.Value, pendingUnkStart, end);
            pendingUnkStart = -1;
        }
    }

    private bool TryAddBytes(ReadOnlySpan<char> ch, int start, ref Symbols symbols, ref int pendingUnkStart)
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
        FlushUnk(ref symbols, ref pendingUnkStart, start);
        for (int b = 0; b < count; b++)
        {
            symbols.Add(_byteTokens[bytes[b]], start, start + ch.Length);
        }
        return true;
    }

    /// <summary>Symbols of a word as a doubly linked list over arrays, each with its char span in the word.</summary>
    private struct Symbols(int capacity)
    {
        public int[] Ids = new int[Math.Max(4, capacity * 2)];
        public int[] Starts = new int[Math.Max(4, capacity * 2)];
        public int[] Ends = new int[Math.Max(4, capacity * 2)];
        public int[] Next = [];
        public int Count;

        public void Add(int id, int start, int end)
        {
            if (Count == Ids.Length)
            {
                Array.Resize(ref Ids, Count * 2);
                Array.Resize(ref Starts, Count * 2);
                Array.Resize(ref Ends, Count * 2);
            }
            Ids[Count] = id;
            Starts[Count] = start;
            Ends[Count] = end;
            Count++;
        }
    }

    private void MergeSymbols(ref Symbols s)
    {
        int n = s.Count;
        int[] next = new int[Math.Max(1, n)];
        for (int i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        s.Next = next;
        if (n <= 1)
        {
            return;
        }
        int[] sym = s.Ids;
        int[] prev = ArrayPool<int>.Shared.Rent(n);
        bool[] alive = ArrayPool<bool>.Shared.Rent(n);
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
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
            s.Ends[pos] = s.Ends[right];
            alive[right] = false;
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
        ArrayPool<int>.Shared.Return(prev);
        ArrayPool<bool>.Shared.Return(alive);
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
            string t = IdToTokenTable[m.NewId]!;
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
