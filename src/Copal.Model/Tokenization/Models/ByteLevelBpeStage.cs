using System.Buffers;
using Copal.Model.Tokenization.PreTokenizers;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization.Models;

/// <summary>
/// Byte-level BPE (GPT-2, Llama-3, Qwen2/3) served by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> with
/// ByteLevel on, built from the file's vocab, merges and split regex. The BpeTokenizer is built on first use: its
/// merge table is the costly part of loading, and with ignore_merges a short text often needs no merge at all.
/// </summary>
internal sealed class ByteLevelBpeStage : IModelStage
{
    private readonly BpeModelSection _section;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocab;
    private readonly RegexSplitPreTokenizer? _split;
    private readonly bool _addPrefixSpace;
    private readonly Lazy<BpeTokenizer> _bpe;

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
    }

    /// <summary>The package's BpeTokenizer (built now if it was not yet).</summary>
    public Tokenizer Model => _bpe.Value;

    /// <summary>Whether the BpeTokenizer has been built (for tests of the lazy load).</summary>
    internal bool IsBuilt => _bpe.IsValueCreated;

    public string?[] IdToToken => _section.IdToToken;

    public int? UnkId => _section.UnkId;

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

    public void EncodeIds(string text, int start, int length, bool atStart, bool preTokenize, List<int> ids)
    {
        string piece = Piece(text, start, length, out _);
        if (piece.Length == 0)
        {
            return;
        }
        if (!preTokenize || _split is null)
        {
            EncodeWordIds(piece.AsSpan(), ids);
        }
        else if (!_section.IgnoreMerges)
        {
            ids.AddRange(_bpe.Value.EncodeToIds(piece, considerPreTokenization: true, considerNormalization: false));
        }
        else
        {
            foreach ((int offset, int len) in _split.PreTokenize(piece))
            {
                EncodeWordIds(piece.AsSpan(offset, len), ids);
            }
        }
    }

    public void EncodeTokens(string text, int start, int length, bool atStart, bool preTokenize, int offset, List<EncodedToken> tokens)
    {
        string piece = Piece(text, start, length, out int prefix);
        if (piece.Length == 0)
        {
            return;
        }
        // Offsets in piece → offsets in the caller's text: drop the prefix space we added.
        int shift = offset - prefix;
        if (!preTokenize || _split is null)
        {
            EncodeWordTokens(piece, 0, piece.Length, shift, tokens);
        }
        else if (!_section.IgnoreMerges)
        {
            AddShifted(_bpe.Value.EncodeToTokens(piece, out _, considerPreTokenization: true, considerNormalization: false), shift, tokens);
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

    private void EncodeWordIds(ReadOnlySpan<char> word, List<int> ids)
    {
        if (_section.IgnoreMerges && WholeWordId(word) is int id)
        {
            ids.Add(id);
            return;
        }
        ids.AddRange(_bpe.Value.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
    }

    private void EncodeWordTokens(string piece, int start, int length, int shift, List<EncodedToken> tokens)
    {
        ReadOnlySpan<char> word = piece.AsSpan(start, length);
        if (_section.IgnoreMerges && WholeWordId(word) is int id)
        {
            tokens.Add(new EncodedToken(id, _section.IdToToken[id]!, new Range(Math.Max(0, start + shift), start + length + shift)));
            return;
        }
        AddShifted(_bpe.Value.EncodeToTokens(word, out _, considerPreTokenization: false, considerNormalization: false), start + shift, tokens);
    }

    private static void AddShifted(IReadOnlyList<EncodedToken> found, int shift, List<EncodedToken> tokens)
    {
        foreach (EncodedToken t in found)
        {
            int s = Math.Max(0, t.Offset.Start.Value + shift);
            int e = Math.Max(s, t.Offset.End.Value + shift);
            tokens.Add(new EncodedToken(t.Id, t.Value, new Range(s, e)));
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
