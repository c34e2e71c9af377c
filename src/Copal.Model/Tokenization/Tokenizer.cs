using System.Text.Json;
using Copal.Model.Tokenization.AddedTokens;
using Copal.Model.Tokenization.Decoders;
using Copal.Model.Tokenization.Models;
using Copal.Model.Tokenization.Normalizers;
using Copal.Model.Tokenization.PostProcessors;
using Copal.Model.Tokenization.PreTokenizers;

namespace Copal.Model.Tokenization;

/// <summary>
/// A Hugging Face tokenizer.json tokenizer (BPE models: byte-level as in GPT-2 / Llama-3 / Qwen, and
/// SentencePiece-style as in Llama-2 / Mistral), giving exactly the ids of HF tokenizers. The pipeline mirrors the
/// file: added tokens → normalizer → pre-tokenizer → model → post-processor; decoding runs the decoder.
/// Thread-safe after construction.
/// </summary>
public sealed class Tokenizer
{
    private readonly AddedVocabulary _added;
    private readonly INormalizer? _normalizer;
    private readonly IPreTokenizer? _preTokenizer;
    private readonly BpeModel _model;
    private readonly IPostProcessor? _postProcessor;
    private readonly IDecoder? _decoder;

    private Tokenizer(AddedVocabulary added, INormalizer? normalizer, IPreTokenizer? preTokenizer, BpeModel model,
        IPostProcessor? postProcessor, IDecoder? decoder, TokenizerConfig config, string source)
    {
        _added = added;
        _normalizer = normalizer;
        _preTokenizer = preTokenizer;
        _model = model;
        _decoder = decoder;
        int maxId = Math.Max(model.IdToToken.Length - 1, added.Tokens.Count == 0 ? -1 : added.Tokens.Max(t => t.Id));
        VocabSize = maxId + 1;

        BosId = Resolve(config.BosToken, source, "bos_token") ?? FindTemplate(postProcessor)?.Prefix.Cast<int?>().FirstOrDefault()
            ?? FirstKnown("<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>");
        EosId = Resolve(config.EosToken, source, "eos_token") ?? FindTemplate(postProcessor)?.Suffix.Cast<int?>().LastOrDefault()
            ?? FirstKnown("</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>");
        UnkId = model.UnkId ?? Resolve(config.UnkToken, source, "unk_token");
        _postProcessor = ApplyConfigFlags(postProcessor, config, source);
    }

    /// <summary>Size of the id space: one more than the largest id of the model vocab and the added tokens.</summary>
    public int VocabSize { get; }

    /// <summary>Beginning-of-sequence id: tokenizer_config.json bos_token, else the template's first special token, else an added token with a conventional name (&lt;s&gt;, &lt;|begin_of_text|&gt;, &lt;bos&gt;).</summary>
    public int? BosId { get; }

    /// <summary>End-of-sequence id: tokenizer_config.json eos_token, else the template's trailing special token, else a conventional name.</summary>
    public int? EosId { get; }

    /// <summary>The model's unk token, else tokenizer_config.json unk_token.</summary>
    public int? UnkId { get; }

    /// <summary>Loads tokenizer.json (and optionally tokenizer_config.json).</summary>
    public static Tokenizer FromFile(string tokenizerJsonPath, string? tokenizerConfigPath = null)
    {
        TokenizerConfig config = tokenizerConfigPath is null ? TokenizerConfig.Empty : TokenizerConfig.Load(tokenizerConfigPath);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(tokenizerJsonPath);
        }
        catch (IOException e)
        {
            throw new TokenizerException($"{tokenizerJsonPath}: cannot read tokenizer file: {e.Message}", e);
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes);
        }
        catch (JsonException e)
        {
            throw new TokenizerException(
                $"{tokenizerJsonPath}: not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): {e.Message}", e);
        }
        using (doc)
        {
            return Build(new JsonSection(doc.RootElement, tokenizerJsonPath, "$"), config);
        }
    }

    /// <summary>Loads tokenizer.json and, when present, tokenizer_config.json from a model folder.</summary>
    public static Tokenizer FromDirectory(string modelDirectory)
    {
        string json = Path.Combine(modelDirectory, "tokenizer.json");
        if (!File.Exists(json))
        {
            throw new TokenizerException($"{modelDirectory}: no tokenizer.json in the model folder");
        }
        string config = Path.Combine(modelDirectory, "tokenizer_config.json");
        return FromFile(json, File.Exists(config) ? config : null);
    }

    private static Tokenizer Build(JsonSection root, TokenizerConfig config)
    {
        if (root.Element.ValueKind != JsonValueKind.Object)
        {
            throw root.Error($"expected a JSON object, found {root.Element.ValueKind}");
        }
        INormalizer? normalizer = root.OptionalChild("normalizer") is { } n ? NormalizerFactory.Create(n) : null;
        IPreTokenizer? pre = root.OptionalChild("pre_tokenizer") is { } p ? PreTokenizerFactory.Create(p) : null;
        BpeModel model = BpeModelFactory.Create(root.Child("model"));
        IPostProcessor? post = root.OptionalChild("post_processor") is { } pp ? PostProcessorFactory.Create(pp) : null;
        IDecoder? decoder = root.OptionalChild("decoder") is { } d ? DecoderFactory.Create(d) : null;
        var addedTokens = root.OptionalChild("added_tokens") is { } a ? a.Items().Select(AddedToken.FromJson).ToList() : [];
        foreach (AddedToken t in addedTokens)
        {
            string? inVocab = t.Id < model.IdToToken.Length ? model.IdToToken[t.Id] : null;
            if (inVocab is not null && inVocab != t.Content)
            {
                throw root.Error($"added token {t.Id} \"{t.Content}\" collides with vocab token \"{inVocab}\" of the same id");
            }
        }
        return new Tokenizer(new AddedVocabulary(addedTokens, normalizer), normalizer, pre, model, post, decoder, config, root.File);
    }

    /// <summary>
    /// The add_bos_token / add_eos_token rule. For Llama-family classes (see <see cref="TokenizerConfig.FlagsRebuildTemplate"/>)
    /// transformers rebuilds the template as [bos if add_bos_token] $A [eos if add_eos_token] (defaults true / false),
    /// which replaces the file's TemplateProcessing, so BOS is never added twice. Other classes keep the file's
    /// post-processor and ignore the flags (that is what the fast tokenizer does).
    /// </summary>
    private IPostProcessor? ApplyConfigFlags(IPostProcessor? fromFile, TokenizerConfig config, string source)
    {
        if (!config.FlagsRebuildTemplate || (config.AddBosToken is null && config.AddEosToken is null))
        {
            return fromFile;
        }
        var single = new List<int[]?>();
        if (config.AddBosToken ?? true)
        {
            single.Add([BosId ?? throw new TokenizerException($"{source}: add_bos_token is true but no BOS token is known")]);
        }
        single.Add(null);
        if (config.AddEosToken ?? false)
        {
            single.Add([EosId ?? throw new TokenizerException($"{source}: add_eos_token is true but no EOS token is known")]);
        }
        return new TemplateProcessing(single);
    }

    private static TemplateProcessing? FindTemplate(IPostProcessor? p) => p switch
    {
        TemplateProcessing t => t,
        SequencePostProcessor s => s.Steps.Select(FindTemplate).FirstOrDefault(t => t is not null),
        _ => null,
    };

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
    /// Encodes text to ids. Added and special tokens written in the text are matched as those tokens.
    /// When <paramref name="addSpecialTokens"/> is true the post-processor runs (e.g. prepends &lt;s&gt;).
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        var rawSegments = new List<AddedVocabulary.Segment>();
        _added.SplitRaw(text, rawSegments);
        var normSegments = new List<AddedVocabulary.Segment>();
        var pieces = new List<Piece>();
        foreach (AddedVocabulary.Segment raw in rawSegments)
        {
            if (raw.TokenId >= 0)
            {
                ids.Add(raw.TokenId);
                continue;
            }
            string sub = raw.Start == 0 && raw.End == text.Length ? text : text[raw.Start..raw.End];
            string normalized = _normalizer?.Normalize(sub) ?? sub;
            normSegments.Clear();
            _added.SplitNormalized(normalized, normSegments);
            foreach (AddedVocabulary.Segment ns in normSegments)
            {
                if (ns.TokenId >= 0)
                {
                    ids.Add(ns.TokenId);
                    continue;
                }
                string word = ns.Start == 0 && ns.End == normalized.Length ? normalized : normalized[ns.Start..ns.End];
                if (_preTokenizer is null)
                {
                    _model.Tokenize(word, ids);
                    continue;
                }
                pieces.Clear();
                _preTokenizer.PreTokenize(new Piece(word, raw.Start == 0 && ns.Start == 0), pieces);
                foreach (Piece piece in pieces)
                {
                    _model.Tokenize(piece.Text, ids);
                }
            }
        }
        if (addSpecialTokens && _postProcessor is not null)
        {
            ids = _postProcessor.Process(ids);
        }
        return [.. ids];
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

    /// <summary>The token string of an id (an added token's content, or the model vocab entry).</summary>
    public string IdToToken(int id)
    {
        if (_added.ById(id) is { } added)
        {
            return added.Content;
        }
        if ((uint)id < (uint)_model.IdToToken.Length && _model.IdToToken[id] is { } token)
        {
            return token;
        }
        throw new TokenizerException($"token id {id} is not in this tokenizer (ids 0..{VocabSize - 1})");
    }

    /// <summary>The id of a token string (added tokens first), or null.</summary>
    public int? TokenToId(string token) => _added.IdOf(token) ?? _model.TokenToId(token);

    /// <summary>True for added tokens marked special (skipped by Decode with skipSpecialTokens).</summary>
    public bool IsSpecial(int id) => _added.ById(id)?.Special ?? false;

    /// <summary>A stream decoder for generation; see <see cref="TokenDecoderStream"/>.</summary>
    public TokenDecoderStream CreateDecoderStream(bool skipSpecialTokens = true) => new(this, skipSpecialTokens);

    /// <summary>Exposed for tests: whether the BPE model may cut words before "▁" (see BpeModel.SplitsAtMetaspace).</summary>
    internal bool ModelSplitsAtMetaspace => _model.SplitsAtMetaspace;
}
