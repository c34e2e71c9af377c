using System.Buffers;
using Copal.Model.Tokenization.PreTokenizers;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Models;

/// <summary>
/// Byte-level BPE (GPT-2, Llama-3, Qwen2/3) served by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> with
/// ByteLevel on, built from the file's vocab, merges and split regex. The BpeTokenizer is built on first use: its
/// merge table is the costly part of loading, and with ignore_merges a short text often needs no merge at all.
/// A word longer than <see cref="MaxCachedWordLength"/> is cut where no merge can join its bytes
/// (<see cref="MergeCrossings"/>), and a part that is still long merges in Copal's own BPE (see <see cref="LongPartIds"/>).
/// </summary>
internal sealed class ByteLevelBpeStage : IModelStage
{
    private readonly BpeModelSection _section;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocab;
    private readonly RegexSplitPreTokenizer? _split;
    private readonly bool _addPrefixSpace;
    private readonly Lazy<BpeTokenizer> _bpe;
    private readonly Lazy<SentencePieceBpeTokenizer> _longWords;
    private readonly Lazy<MergeCrossings> _crossings;
    private readonly int _longestToken;
    private readonly WordCache _cache = new(capacity: 100_000);

    /// <summary>Words longer than this are not cached (they are rare and would evict many short ones).</summary>
    private const int MaxCachedWordLength = 256;

    public ByteLevelBpeStage(BpeModelSection section, ByteLevelSpec spec)
    {
        if (section.ByteFallback)
        {
            throw section.Section.Error("byte_fallback true with a byte-level pre-tokenizer is not supported; expected false");
        }
        _section = section;
        _vocab = section.Vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _split = spec.Split;
        _addPrefixSpace = spec.AddPrefixSpace;
        _bpe = new Lazy<BpeTokenizer>(Build, LazyThreadSafetyMode.ExecutionAndPublication);
        _longWords = new Lazy<SentencePieceBpeTokenizer>(() => ModelFactory.CreateSentencePiece(section), LazyThreadSafetyMode.ExecutionAndPublication);
        _crossings = new Lazy<MergeCrossings>(() => ModelFactory.CreateCrossings(section), LazyThreadSafetyMode.ExecutionAndPublication);
        // No vocab at all (0): the package's BPE refuses it, naming the file, when the first text is encoded.
        _longestToken = section.Vocab.Count == 0 ? 0 : section.Vocab.Keys.Max(k => k.Length);
    }

    /// <summary>The package's BpeTokenizer (built now if it was not yet).</summary>
    public Tokenizer Model => _bpe.Value;

    /// <summary>Whether the BpeTokenizer has been built (for tests of the lazy load).</summary>
    internal bool IsBuilt => _bpe.IsValueCreated;

    public string?[] IdToToken => _section.IdToToken;

    public int? UnkId => _section.UnkId;

    /// <summary>
    /// Every character reaches the model as bytes in GPT-2's alphabet: a vocab with all 256 spells each one. One that
    /// lacks some (never seen in a real file) is taken as able to lose text.
    /// </summary>
    public bool MayMergeUnknownText => !Array.TrueForAll(ByteLevelAlphabet.ByteToChar, c => _section.Vocab.ContainsKey(c.ToString()));

    public PreTokenizer? PreTokenizer => _split;

    public int? TokenToId(string token) => _section.Vocab.TryGetValue(token, out int id) ? id : null;

    private BpeTokenizer Build()
    {
        var options = new BpeOptions(_section.Vocab)
        {
            Merges = ModelFactory.MergeStrings(_section),
            ByteLevel = true,
            // Never asked to split when null: the stage passes considerPreTokenization false.
            PreTokenizer = _split,
            UnknownToken = _section.UnkToken,
            FuseUnknownTokens = _section.FuseUnk,
        };
        try
        {
            return BpeTokenizer.Create(options);
        }
        catch (InvalidOperationException e)
        {
            throw _section.Section.Error($"Microsoft.ML.Tokenizers refused the BPE model: {e.Message}");
        }
    }

    public void EncodeIds(string text, int start, int length, bool atStart, bool preTokenize, List<int> ids, EncodeWatch? watch = null)
    {
        string piece = Piece(text, start, length, out int prefix);
        if (piece.Length == 0)
        {
            return;
        }
        if (!preTokenize || _split is null)
        {
            // The whole piece is one word (a whole file, when the file has no split regex): its parts hear the watch.
            EncodeWordIds(piece.AsSpan(), ids, watch, start - prefix);
            return;
        }
        _split.ForEachWord(piece, (offset, len) => EncodeWordIds(piece.AsSpan(offset, len), ids, watch, start + offset - prefix));
    }

    public void EncodeTokens(string text, int start, int length, bool atStart, bool preTokenize, int offset, List<EncodedToken> tokens)
    {
        string piece = Piece(text, start, length, out int prefix);
        if (piece.Length == 0)
        {
            return;
        }
        // Offsets in piece → offsets in the caller's text: drop the prefix space we added.
        int shift = offset + start - prefix;
        if (!preTokenize || _split is null)
        {
            EncodeWordTokens(piece, 0, piece.Length, shift, tokens);
        }
        else
        {
            foreach ((int o, int len) in _split.PreTokenize(piece))
            {
                EncodeWordTokens(piece, o, len, shift, tokens);
            }
        }
    }

    private string Piece(string text, int start, int length, out int prefix)
    {
        string piece = start == 0 && length == text.Length ? text : text.Substring(start, length);
        prefix = 0;
        if (_addPrefixSpace && piece.Length > 0 && piece[0] != ' ')
        {
            prefix = 1;
            return " " + piece;
        }
        return piece;
    }

    /// <summary>
    /// Appends the ids of one word; <paramref name="watch"/> hears <paramref name="offset"/> (the word's place in the
    /// text) before it, and the place of each part of a long word before that part.
    /// </summary>
    private void EncodeWordIds(ReadOnlySpan<char> word, List<int> ids, EncodeWatch? watch, int offset)
    {
        watch?.At(offset);
        // A word with more chars than the longest token has more bytes than it too: no lookup (of a whole file's bytes).
        if (_section.IgnoreMerges && word.Length <= _longestToken && WholeWordId(word) is int id)
        {
            ids.Add(id);
            return;
        }
        if (word.Length <= MaxCachedWordLength)
        {
            MergedIds(word, ids);
            return;
        }
        MergeCrossings crossings = _crossings.Value;
        for (int start = 0, end; start < word.Length; start = end)
        {
            end = crossings.PartEnd(word, start);
            if (start > 0)
            {
                watch?.At(offset + start);
            }
            ReadOnlySpan<char> part = word[start..end];
            if (part.Length > MaxCachedWordLength)
            {
                LongPartIds(part, ids);
            }
            else
            {
                MergedIds(part, ids, packageMerges: !IsMergedOnlyAsPart(part));
            }
        }
    }

    /// <summary>
    /// ignore_merges takes a word whole, never a part of one: a part of a long word that is a vocab token is merged all
    /// the same, by Copal's merge loop (the package's BPE may take a vocab word whole).
    /// </summary>
    private bool IsMergedOnlyAsPart(ReadOnlySpan<char> part) => _section.IgnoreMerges && part.Length <= _longestToken && WholeWordId(part) is not null;

    /// <summary>
    /// The BPE merge of a word of at most <see cref="MaxCachedWordLength"/> chars, through the word cache: by the
    /// package's BPE, or (<paramref name="packageMerges"/> false, see <see cref="IsMergedOnlyAsPart"/>) Copal's merge
    /// loop. The cache holds merges only; a whole word that is a vocab token with ignore_merges never reaches it.
    /// </summary>
    private void MergedIds(ReadOnlySpan<char> word, List<int> ids, bool packageMerges = true)
    {
        // The package caches at most 10k words of up to 15 chars; WikiText alone has ~30k distinct words, so
        // without this cache most of them were merged again on every encode.
        if (_cache.TryGet(word, out int[] cached))
        {
            ids.AddRange(cached);
            return;
        }
        int mark = ids.Count;
        if (packageMerges)
        {
            ids.AddRange(_bpe.Value.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
        }
        else
        {
            LongPartIds(word, ids);
        }
        _cache.Add(word.ToString(), ids.GetRange(mark, ids.Count - mark).ToArray());
    }

    /// <summary>
    /// The BPE merge of a long part of a word in the byte-level alphabet, by the same merge loop as SentencePiece words
    /// (lowest rank first, leftmost among equals, as HF's: the same ids as the package's). The package's merge costs
    /// the square of a word's length: 64,000 CJK characters with no space (one piece to the split regex) took 8 to
    /// 12 s, so a megabyte of them, hours of a core; this loop's priority queue makes it n log n.
    /// </summary>
    private void LongPartIds(ReadOnlySpan<char> part, List<int> ids) => _longWords.Value.MergeWord(ByteLevelAlphabet.Encode(part), ids, wholeWordFirst: false);

    private void EncodeWordTokens(string piece, int start, int length, int shift, List<EncodedToken> tokens)
    {
        ReadOnlySpan<char> word = piece.AsSpan(start, length);
        if (_section.IgnoreMerges && length <= _longestToken && WholeWordId(word) is int id)
        {
            tokens.Add(new EncodedToken(id, _section.IdToToken[id]!, new Range(Math.Max(0, start + shift), start + length + shift)));
            return;
        }
        if (length <= MaxCachedWordLength)
        {
            AddShifted(piece, start, _bpe.Value.EncodeToTokens(word, out _, considerPreTokenization: false, considerNormalization: false), shift, tokens);
            return;
        }
        // Cut as EncodeWordIds cuts a long word.
        MergeCrossings crossings = _crossings.Value;
        for (int from = 0, end; from < length; from = end)
        {
            end = crossings.PartEnd(word, from);
            ReadOnlySpan<char> part = word[from..end];
            if (part.Length <= MaxCachedWordLength && !IsMergedOnlyAsPart(part))
            {
                AddShifted(piece, start + from, _bpe.Value.EncodeToTokens(part, out _, considerPreTokenization: false, considerNormalization: false), shift, tokens);
            }
            else
            {
                AddLongWordTokens(part, start + from, shift, tokens);
            }
        }
    }

    /// <summary>
    /// The tokens of a long part of a word (<see cref="LongPartIds"/>) with offsets in the piece moved by <paramref name="shift"/>:
    /// the merge gives each token's bytes, and a token that holds only some bytes of a character gets the whole
    /// character's span, as <see cref="AddShifted"/> gives the package's.
    /// </summary>
    private void AddLongWordTokens(ReadOnlySpan<char> word, int wordStart, int shift, List<EncodedToken> tokens)
    {
        // For each UTF-8 byte of the word, the span of chars of the character it is part of.
        var charStart = new List<int>(word.Length * 3);
        var charEnd = new List<int>(word.Length * 3);
        for (int c = 0; c < word.Length;)
        {
            int chars = char.IsHighSurrogate(word[c]) && c + 1 < word.Length && char.IsLowSurrogate(word[c + 1]) ? 2 : 1;
            int bytes = System.Text.Encoding.UTF8.GetByteCount(word.Slice(c, chars));
            for (int b = 0; b < bytes; b++)
            {
                charStart.Add(c);
                charEnd.Add(c + chars);
            }
            c += chars;
        }
        var merged = new List<EncodedToken>();
        _longWords.Value.MergeWordTokens(ByteLevelAlphabet.Encode(word), merged, wholeWordFirst: false);
        foreach (EncodedToken t in merged)
        {
            int s = Math.Max(0, wordStart + charStart[t.Offset.Start.Value] + shift);
            int e = wordStart + charEnd[t.Offset.End.Value - 1] + shift;
            tokens.Add(new EncodedToken(t.Id, t.Value, new Range(s, Math.Max(s, e))));
        }
    }

    /// <summary>
    /// Adds the package's tokens of piece[wordStart..] with offsets moved by <paramref name="shift"/>. A token that holds
    /// only some bytes of a character gets the whole character's span (as HF), never half a surrogate pair.
    /// </summary>
    private static void AddShifted(string piece, int wordStart, IReadOnlyList<EncodedToken> found, int shift, List<EncodedToken> tokens)
    {
        foreach (EncodedToken t in found)
        {
            int s = wordStart + t.Offset.Start.Value;
            int e = Math.Max(s, wordStart + t.Offset.End.Value);
            if (s < piece.Length && char.IsLowSurrogate(piece[s]) && s > 0 && char.IsHighSurrogate(piece[s - 1]))
            {
                s--;
            }
            if (e == s || (e < piece.Length && char.IsLowSurrogate(piece[e]) && char.IsHighSurrogate(piece[e - 1])))
            {
                e = Math.Min(piece.Length, e + (e < piece.Length && char.IsLowSurrogate(piece[e]) ? 1 : 0));
            }
            s = Math.Max(0, s + shift);
            tokens.Add(new EncodedToken(t.Id, t.Value, new Range(s, Math.Max(s, e + shift))));
        }
    }

    /// <summary>ignore_merges: a word that is a vocab token as a whole is that token, merges or not (as HF).</summary>
    private int? WholeWordId(ReadOnlySpan<char> word)
    {
        int max = word.Length * 3;
        char[]? rented = max > 256 ? ArrayPool<char>.Shared.Rent(max) : null;
        Span<char> buffer = rented ?? stackalloc char[256];
        int n = ByteLevelAlphabet.Encode(word, buffer);
        int? id = _vocab.TryGetValue(buffer[..n], out int found) ? found : null;
        if (rented is not null)
        {
            ArrayPool<char>.Shared.Return(rented);
        }
        return id;
    }
}
