using System.Buffers;
using System.Text;
using System.Text.Json;
using Copal.Model.Tokenization.AddedTokens;
using Copal.Model.Tokenization.Decoders;
using Copal.Model.Tokenization.Models;
using Copal.Model.Tokenization.Normalizers;
using Copal.Model.Tokenization.PostProcessors;
using Copal.Model.Tokenization.PreTokenizers;
using Microsoft.ML.Tokenizers;

namespace Copal.Model.Tokenization;

/// <summary>
/// A Hugging Face tokenizer.json tokenizer as a Microsoft.ML.Tokenizers <see cref="Tokenizer"/>, giving exactly the ids
/// of HF tokenizers. The pipeline mirrors the file: added tokens → normalizer → pre-tokenizer → model →
/// post-processor; decoding runs the file's decoder. The model is Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>
/// for byte-level BPE (GPT-2, Llama-3, Qwen2/3) and Copal's own SentencePiece-style BPE with byte fallback (Llama-2,
/// Mistral, TinyLlama); see <see cref="Model"/>. Thread-safe.
/// </summary>
/// <remarks>
/// Through the <see cref="Tokenizer"/> API: encoding applies the post-processor (BOS/EOS, as HF's default
/// add_special_tokens), <see cref="Decode(IEnumerable{int})"/> skips special tokens (as HF's skip_special_tokens),
/// and offsets refer to the normalized text when one is returned (Llama-2's "▁Hello▁world"), else to the input.
/// </remarks>
public sealed class CopalTokenizer : Tokenizer
{
    private readonly AddedVocabulary _added;
    private readonly Normalizer? _normalizer;
    private readonly IModelStage _stage;
    private readonly TemplateProcessing _template;
    private readonly IDecoder? _decoder;

    private CopalTokenizer(AddedVocabulary added, Normalizer? normalizer, IModelStage stage, TemplateProcessing? template,
        IDecoder? decoder, TokenizerConfig config, string source)
    {
        _added = added;
        _normalizer = normalizer;
        _stage = stage;
        _decoder = decoder;
        int maxId = Math.Max(stage.IdToToken.Length - 1, added.Tokens.Count == 0 ? -1 : added.Tokens.Max(t => t.Id));
        VocabSize = maxId + 1;

        BosId = Resolve(config.BosToken, source, "bos_token") ?? template?.Prefix.Cast<int?>().FirstOrDefault()
            ?? FirstKnown("<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>");
        EosId = Resolve(config.EosToken, source, "eos_token") ?? template?.Suffix.Cast<int?>().LastOrDefault()
            ?? FirstKnown("</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>");
        UnkId = stage.UnkId ?? Resolve(config.UnkToken, source, "unk_token");
        _boundedByBytes = !NormalizerShortening.MayShortenWithoutBound(normalizer) && !stage.MayMergeUnknownText;
        _maxTokenBytes = new(() => Math.Max(1, stage.IdToToken.Select(t => t is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(t))
            .Concat(added.Tokens.Select(t => System.Text.Encoding.UTF8.GetByteCount(t.Content))).Max()));
        _template = ApplyConfigFlags(template ?? TemplateProcessing.None, config, source);
    }

    /// <summary>Size of the id space: one more than the largest id of the model vocab and the added tokens.</summary>
    public int VocabSize { get; }

    /// <summary>Beginning-of-sequence id: tokenizer_config.json bos_token, else the template's first special token, else an added token with a conventional name (&lt;s&gt;, &lt;|begin_of_text|&gt;, &lt;bos&gt;).</summary>
    public int? BosId { get; }

    /// <summary>End-of-sequence id: tokenizer_config.json eos_token, else the template's trailing special token, else a conventional name.</summary>
    public int? EosId { get; }

    /// <summary>The model's unk token, else tokenizer_config.json unk_token.</summary>
    public int? UnkId { get; }

    /// <summary>
    /// The model stage as a Microsoft.ML.Tokenizers tokenizer: a <see cref="BpeTokenizer"/> with ByteLevel on for
    /// byte-level files (built on first use), else Copal's SentencePiece-style BPE. It sees normalized text only.
    /// </summary>
    public Tokenizer Model => _stage.Model;

    /// <summary>The file's normalizer (NFC, Prepend, Replace, Sequence …), or null.</summary>
    public override Normalizer? Normalizer => _normalizer;

    /// <summary>The file's split regex (byte-level files), or null.</summary>
    public override PreTokenizer? PreTokenizer => (_stage as ByteLevelBpeStage)?.PreTokenizer;

    /// <summary>Loads tokenizer.json (and optionally tokenizer_config.json).</summary>
    public static CopalTokenizer FromFile(string tokenizerJsonPath, string? tokenizerConfigPath = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJsonPath);
        foreach (string? given in new[] { tokenizerJsonPath, tokenizerConfigPath })
        {
            if (given is not null && Directory.Exists(given))
            {
                throw new TokenizerException($"{given}: is a directory, expected a file");
            }
        }
        TokenizerConfig config = tokenizerConfigPath is null ? TokenizerConfig.Empty : TokenizerConfig.Load(tokenizerConfigPath);
        byte[] bytes;
        try
        {
            bytes = Copal.Tensors.IO.BoundedFile.ReadAllBytes(tokenizerJsonPath, Copal.Tensors.IO.BoundedFile.SideFileMaxBytes, "a tokenizer.json");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerException($"{tokenizerJsonPath}: cannot read tokenizer file: {Copal.Tensors.IO.ReadFailure.Reason(e)}", e);
        }
        TokenizerJson file = TokenizerJson.Parse(bytes, tokenizerJsonPath);
        return Build(file, config);
    }

    /// <summary>Loads tokenizer.json and, when present, tokenizer_config.json from a model folder.</summary>
    public static CopalTokenizer FromDirectory(string modelDirectory)
    {
        // "" would read the working folder's tokenizer.json (Path.Combine("", name) is name).
        ArgumentException.ThrowIfNullOrEmpty(modelDirectory);
        string json = Path.Combine(modelDirectory, "tokenizer.json");
        string config = Path.Combine(modelDirectory, "tokenizer_config.json");
        foreach (string file in new[] { json, config })
        {
            if (Directory.Exists(file))
            {
                throw new TokenizerException($"{file}: is a directory, expected a file");
            }
        }
        if (!File.Exists(json))
        {
            throw new TokenizerException($"{modelDirectory}: no tokenizer.json in the model folder");
        }
        return FromFile(json, File.Exists(config) ? config : null);
    }

    private static CopalTokenizer Build(TokenizerJson file, TokenizerConfig config)
    {
        JsonSection root = file.Root;
        if (root.Element.ValueKind != JsonValueKind.Object)
        {
            throw root.Error($"expected a JSON object, found {root.Element.ValueKind}");
        }
        Normalizer? normalizer = root.OptionalChild("normalizer") is { } n ? NormalizerFactory.Create(n) : null;
        PreTokenizerSpec? pre = root.OptionalChild("pre_tokenizer") is { } p ? PreTokenizerFactory.Create(p) : null;
        BpeModelSection model = ModelFactory.Read(root.Child("model"), file);
        IDecoder? decoder = root.OptionalChild("decoder") is { } d ? DecoderFactory.Create(d) : null;
        var addedTokens = root.OptionalChild("added_tokens") is { } a ? a.Items().Select(AddedToken.FromJson).ToList() : [];
        var addedIds = addedTokens.Select(t => t.Id).ToHashSet();
        int idCount = Math.Max(model.IdToToken.Length, addedIds.Count == 0 ? 0 : addedIds.Max() + 1);
        TemplateProcessing? post = root.OptionalChild("post_processor") is { } pp
            ? PostProcessorFactory.Create(pp, id => addedIds.Contains(id) || ((uint)id < (uint)model.IdToToken.Length && model.IdToToken[id] is not null), idCount)
            : null;
        foreach (AddedToken t in addedTokens)
        {
            string? inVocab = t.Id < model.IdToToken.Length ? model.IdToToken[t.Id] : null;
            if (inVocab is not null && inVocab != t.Content)
            {
                throw root.Error($"added token {t.Id} \"{t.Content}\" collides with vocab token \"{inVocab}\" of the same id");
            }
        }
        IModelStage stage = pre switch
        {
            ByteLevelSpec byteLevel => new ByteLevelBpeStage(model, byteLevel),
            MetaspaceSpec metaspace => new SentencePieceStage(ModelFactory.CreateSentencePiece(model), metaspace.PreTokenizer),
            _ => new SentencePieceStage(ModelFactory.CreateSentencePiece(model), null),
        };
        return new CopalTokenizer(new AddedVocabulary(addedTokens, normalizer), normalizer, stage, post, decoder, config, root.File);
    }

    /// <summary>
    /// The add_bos_token / add_eos_token rule. For Llama-family classes (see <see cref="TokenizerConfig.FlagsRebuildTemplate"/>)
    /// transformers rebuilds the template as [bos if add_bos_token] $A [eos if add_eos_token] (defaults true / false),
    /// which replaces the file's TemplateProcessing, so BOS is never added twice. Other classes keep the file's
    /// post-processor and ignore the flags (that is what the fast tokenizer does).
    /// </summary>
    private TemplateProcessing ApplyConfigFlags(TemplateProcessing fromFile, TokenizerConfig config, string source)
    {
        if (!config.FlagsRebuildTemplate || (config.AddBosToken is null && config.AddEosToken is null))
        {
            return fromFile;
        }
        int[] prefix = config.AddBosToken ?? true
            ? [BosId ?? throw new TokenizerException($"{source}: add_bos_token is true but no BOS token is known")]
            : [];
        int[] suffix = config.AddEosToken ?? false
            ? [EosId ?? throw new TokenizerException($"{source}: add_eos_token is true but no EOS token is known")]
            : [];
        return new TemplateProcessing(prefix, suffix);
    }

    private int? Resolve(string? token, string source, string field)
    {
        if (token is null)
        {
            return null;
        }
        return TokenToId(token) ?? throw new TokenizerException($"{source}: tokenizer_config.json {field} \"{token}\" is not a token of this tokenizer");
    }

    /// <summary>Conventional names count only as added tokens: a plain vocab entry "&lt;s&gt;" (Qwen has one) is text, not BOS.</summary>
    private int? FirstKnown(params string[] names) => names.Select(_added.IdOf).FirstOrDefault(id => id is not null);

    /// <summary>
    /// The fewest tokens <paramref name="text"/> can encode to, known without encoding it: no token covers more of the
    /// text's UTF-8 bytes than the longest vocab or added token holds (its own UTF-8, which byte-level and SentencePiece
    /// spellings only lengthen), with a margin of 4 for a normalizer that shortens text (NFKC's fullwidth letters are 3
    /// bytes for 1). A server refuses a prompt far past its context by this bound, without the time encoding it takes.
    /// It is 0 where the normalizer may delete text (a Replace to something shorter, or by a regex), or the model may
    /// drop or fuse characters it cannot spell (no byte fallback, and no unk token or fuse_unk): a thousand characters
    /// deleted are no tokens at all, a thousand fused one, and a bound by their bytes refused a prompt that fits.
    /// </summary>
    public long MinTokenCount(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _boundedByBytes ? System.Text.Encoding.UTF8.GetByteCount(text) / (4L * _maxTokenBytes.Value) : 0;
    }

    private readonly bool _boundedByBytes;

    private readonly Lazy<int> _maxTokenBytes;

    /// <summary>
    /// Encodes text to ids. Added and special tokens written in the text are matched as those tokens.
    /// When <paramref name="addSpecialTokens"/> is true the post-processor runs (e.g. prepends &lt;s&gt;).
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens = true) => Encode(text, addSpecialTokens, null, CancellationToken.None);

    /// <summary>
    /// As <see cref="Encode(string, bool)"/>, for a long text (a whole file): <paramref name="cancellationToken"/> is
    /// checked before each word, so a cancelled encode throws <see cref="OperationCanceledException"/> within one word,
    /// and <paramref name="progress"/> hears how far it has come every million characters or so, and once at the end.
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens, IProgress<TokenizeProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(text);
        var watch = new EncodeWatch(progress, text.Length, cancellationToken);
        int[] ids = Encode(text, addSpecialTokens, watch);
        watch.Done();
        return ids;
    }

    /// <summary>
    /// As <see cref="Encode(string, bool, IProgress{TokenizeProgress}?, CancellationToken)"/>, the ids appended to
    /// <paramref name="ids"/> rather than returned in an array of their own: a caller that writes them out (a server's
    /// answer) or gathers several texts' ids skips the array's copy of the list, 4 bytes an id (32 MB for 30 MB of
    /// text). Room for a third of the text's characters is made first, as <see cref="Encode(string, bool)"/> sizes
    /// its list (text gives fewer ids than that, a quarter on English); the list grows as any list past it.
    /// </summary>
    public void EncodeInto(string text, bool addSpecialTokens, List<int> ids, IProgress<TokenizeProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(ids);
        var watch = new EncodeWatch(progress, text.Length, cancellationToken);
        ids.EnsureCapacity(ids.Count + IdsRoom(text));
        EncodeInto(text, addSpecialTokens, ids, watch);
        watch.Done();
    }

    /// <summary>One text under a watch that may span several (the documents of one file).</summary>
    internal int[] Encode(string text, bool addSpecialTokens, EncodeWatch? watch)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(IdsRoom(text));
        EncodeInto(text, addSpecialTokens, ids, watch);
        return [.. ids];
    }

    /// <summary>The ids a text's list is first sized for: a third of its characters, and the special tokens around it.</summary>
    private static int IdsRoom(string text) => text.Length / 3 + 4;

    /// <summary>As <see cref="Encode(string, bool, EncodeWatch?)"/>, appending to <paramref name="ids"/> (one list for a file's documents).</summary>
    internal void EncodeInto(string text, bool addSpecialTokens, List<int> ids, EncodeWatch? watch)
    {
        ArgumentNullException.ThrowIfNull(text);
        Run(text, considerNormalization: true, considerPreTokenization: true, addSpecialTokens, ids, null, out _, watch);
    }

    /// <summary>
    /// Decodes ids to text through the file's decoder (tokens joined by spaces when the file has none). With
    /// <paramref name="skipSpecialTokens"/>, added tokens marked special are left out.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            if (skipSpecialTokens && IsSpecial(id))
            {
                continue;
            }
            tokens.Add(IdToToken(id));
        }
        return _decoder is null ? string.Join(' ', tokens) : string.Concat(_decoder.DecodeChain(tokens));
    }

    /// <summary>Decodes ids with special tokens skipped (see <see cref="Decode(ReadOnlySpan{int}, bool)"/>).</summary>
    public override string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        return Decode(ids is int[] array ? array : ids.ToArray(), skipSpecialTokens: true);
    }

    /// <summary>Decodes ids with special tokens skipped into <paramref name="destination"/>, all or nothing.</summary>
    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed, out int charsWritten)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int[] array = ids as int[] ?? ids.ToArray();
        return TokenLimit.CopyOut(Decode(array, skipSpecialTokens: true), array.Length, destination, out idsConsumed, out charsWritten);
    }

    /// <summary>The token string of an id (an added token's content, or the model vocab entry).</summary>
    public string IdToToken(int id)
    {
        if (_added.ById(id) is { } added)
        {
            return added.Content;
        }
        string?[] table = _stage.IdToToken;
        if ((uint)id < (uint)table.Length && table[id] is { } token)
        {
            return token;
        }
        throw new TokenizerException($"token id {id} is not in this tokenizer (ids 0..{VocabSize - 1})");
    }

    /// <summary>Whether <paramref name="id"/> names a token (an id space may have holes between the vocab and the added tokens).</summary>
    internal bool HasToken(int id) => _added.ById(id) is not null || ((uint)id < (uint)_stage.IdToToken.Length && _stage.IdToToken[id] is not null);

    /// <summary>
    /// The UTF-8 bytes token <paramref name="id"/> stands for inside a text, as llama.cpp's token pieces and the
    /// "bytes" of OpenAI's logprobs: a SentencePiece word with its leading space (which a decode of the text's first
    /// token strips), a byte-fallback token its one byte, a byte-level token the bytes of its alphabet. A token's
    /// bytes may be part of a character; the bytes of a text's tokens, one after another, are the text's.
    /// </summary>
    public byte[] TokenBytes(int id)
    {
        if (_added.ById(id) is { } added)
        {
            return System.Text.Encoding.UTF8.GetBytes(added.Content);
        }
        string token = IdToToken(id);
        return _decoder is null ? System.Text.Encoding.UTF8.GetBytes(token)
            : _decoder.Bytes(token) ?? System.Text.Encoding.UTF8.GetBytes(_decoder.Piece(token));
    }

    /// <summary>The id of a token string (added tokens first), or null.</summary>
    public int? TokenToId(string token) => _added.IdOf(token) ?? _stage.TokenToId(token);

    /// <summary>
    /// Why token <paramref name="id"/>, which this tokenizer makes, has no row in the model (the caller has found it
    /// past the model's vocabulary): an added token is one a fine-tune added without resizing the model, any other id
    /// means the tokenizer is another model's. <paramref name="tokenizerName"/> starts the sentence.
    /// </summary>
    public string WhyOutsideModel(int id, string tokenizerName) => _added.ById(id) is not null
        ? $"{tokenizerName} adds it past the model's rows, so the model has no embedding for it (added without resizing the model?)"
        : $"{tokenizerName} has {VocabSize} tokens, so it is not this model's";

    /// <summary>True for added tokens marked special (skipped by Decode with skipSpecialTokens).</summary>
    public bool IsSpecial(int id) => _added.ById(id)?.Special ?? false;

    /// <summary>A stream decoder for generation; see <see cref="TokenDecoderStream"/>.</summary>
    public TokenDecoderStream CreateDecoderStream(bool skipSpecialTokens = true) => new(this, skipSpecialTokens);

    /// <summary>Exposed for tests: the model stage.</summary>
    internal IModelStage Stage => _stage;

    /// <summary>
    /// The ids of <paramref name="text"/> (or <paramref name="textSpan"/> when text is null), post-processor applied; a
    /// MaxTokenCount keeps the leading tokens that fit without splitting a character.
    /// </summary>
    protected override EncodeResults<int> EncodeToIds(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        if (settings.MaxTokenCount < int.MaxValue)
        {
            EncodeResults<EncodedToken> limited = EncodeToTokens(text, textSpan, settings);
            return new EncodeResults<int>
            {
                Tokens = limited.Tokens.Select(t => t.Id).ToList(),
                NormalizedText = limited.NormalizedText,
                CharsConsumed = limited.CharsConsumed,
            };
        }
        string input = text ?? textSpan.ToString();
        var ids = new List<int>(input.Length / 3 + 4);
        Run(input, settings.ConsiderNormalization, settings.ConsiderPreTokenization, addSpecialTokens: true, ids, null, out string? normalized, watch: null);
        return new EncodeResults<int> { Tokens = ids, NormalizedText = normalized, CharsConsumed = (normalized ?? input).Length };
    }

    /// <summary>
    /// As <see cref="EncodeToIds(string?, ReadOnlySpan{char}, EncodeSettings)"/>, with each token's string and its
    /// offsets (into the normalized text when one is returned).
    /// </summary>
    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings)
    {
        string input = text ?? textSpan.ToString();
        var tokens = new List<EncodedToken>(input.Length / 3 + 4);
        Run(input, settings.ConsiderNormalization, settings.ConsiderPreTokenization, addSpecialTokens: true, null, tokens, out string? normalized, watch: null);
        int length = (normalized ?? input).Length;
        int kept = TokenLimit.Keep(tokens, settings.MaxTokenCount);
        bool truncated = kept < tokens.Count;
        tokens.RemoveRange(kept, tokens.Count - kept);
        return new EncodeResults<EncodedToken>
        {
            Tokens = tokens,
            NormalizedText = normalized,
            CharsConsumed = TokenLimit.CharsConsumed(tokens, length, truncated),
        };
    }

    /// <summary>The number of ids <see cref="EncodeToIds(string?, ReadOnlySpan{char}, EncodeSettings)"/> gives.</summary>
    protected override int CountTokens(string? text, ReadOnlySpan<char> textSpan, EncodeSettings settings) =>
        EncodeToIds(text, textSpan, settings).Tokens.Count;

    /// <summary>
    /// The pipeline. Fills <paramref name="ids"/> or <paramref name="tokens"/> (with offsets into the normalized text,
    /// which is returned when it differs from <paramref name="text"/>).
    /// </summary>
    private void Run(string text, bool considerNormalization, bool considerPreTokenization, bool addSpecialTokens,
        List<int>? ids, List<EncodedToken>? tokens, out string? normalizedText, EncodeWatch? watch)
    {
        watch?.ThrowIfCancellationRequested();
        if (addSpecialTokens)
        {
            foreach (int id in _template.Prefix)
            {
                ids?.Add(id);
                tokens?.Add(new EncodedToken(id, IdToToken(id), new Range(0, 0)));
            }
        }
        Normalizer? normalizer = considerNormalization ? _normalizer : null;
        // Offsets of tokens refer to the concatenation of the normalized pieces; it is only built when asked.
        StringBuilder? normalizedBuilder = tokens is not null && normalizer is not null ? new StringBuilder(text.Length + 16) : null;
        var rawSegments = new List<AddedVocabulary.Segment>();
        _added.SplitRaw(text, rawSegments);
        var normSegments = new List<AddedVocabulary.Segment>();
        foreach (AddedVocabulary.Segment raw in rawSegments)
        {
            int outBase = normalizedBuilder?.Length ?? raw.Start;
            if (raw.TokenId >= 0)
            {
                Emit(raw.TokenId, outBase, outBase + raw.End - raw.Start, ids, tokens);
                normalizedBuilder?.Append(text, raw.Start, raw.End - raw.Start);
                continue;
            }
            string sub = raw.Start == 0 && raw.End == text.Length ? text : text[raw.Start..raw.End];
            string normalized = normalizer?.Normalize(sub) ?? sub;
            watch?.Piece(raw.Start, raw.End - raw.Start, normalized.Length);
            normalizedBuilder?.Append(normalized);
            normSegments.Clear();
            _added.SplitNormalized(normalized, normSegments);
            foreach (AddedVocabulary.Segment ns in normSegments)
            {
                if (ns.TokenId >= 0)
                {
                    Emit(ns.TokenId, outBase + ns.Start, outBase + ns.End, ids, tokens);
                    continue;
                }
                bool atStart = raw.Start == 0 && ns.Start == 0;
                if (ids is not null)
                {
                    _stage.EncodeIds(normalized, ns.Start, ns.End - ns.Start, atStart, considerPreTokenization, ids, watch);
                }
                else
                {
                    _stage.EncodeTokens(normalized, ns.Start, ns.End - ns.Start, atStart, considerPreTokenization, outBase, tokens!);
                }
            }
        }
        normalizedText = null;
        int end = text.Length;
        if (normalizedBuilder is not null)
        {
            string all = normalizedBuilder.ToString();
            normalizedText = all == text ? null : all;
            end = all.Length;
        }
        if (addSpecialTokens)
        {
            foreach (int id in _template.Suffix)
            {
                Emit(id, end, end, ids, tokens);
            }
        }
    }

    private void Emit(int id, int start, int end, List<int>? ids, List<EncodedToken>? tokens)
    {
        ids?.Add(id);
        tokens?.Add(new EncodedToken(id, IdToToken(id), new Range(start, end)));
    }
}
