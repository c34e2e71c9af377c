using System.Globalization;
using System.Text.Json;
using Copal.Tensors.IO;

namespace Copal.Model.Config;

/// <summary>
/// The hyper-parameters of a LLaMA-family decoder, bound from a Hugging Face <c>config.json</c>.
/// Covers LlamaForCausalLM (TinyLlama, SmolLM, Llama 2/3/3.1/3.2), MistralForCausalLM, Qwen2ForCausalLM (q/k/v
/// biases), Qwen3ForCausalLM (per-head q/k RMSNorm) and Phi3ForCausalLM with plain RoPE (Phi-3-mini-4k, Phi-3-medium-4k,
/// Phi-4: LLaMA's computation with q/k/v and gate/up each stored as one matrix; Phi-3.5-mini and Phi-4-mini with partial
/// RoPE and longrope), GraniteForCausalLM (IBM Granite 3: LLaMA's computation with four scalar multipliers),
/// Olmo2ForCausalLM (OLMo 2: each branch's output normed before its residual add, q and k normed across all heads) and
/// Gemma3ForCausalLM (Gemma 3 text: norms before and after each branch with weights stored as offsets from 1, per-head
/// q/k norms, a GELU-tanh gate, scaled embeddings, local sliding layers with their own RoPE base between global ones).
/// </summary>
public sealed record LlamaConfig
{
    // Each supported HF class with its config.json model_type, the one table the reader and the writer share.
    private static readonly (string Architecture, string ModelType)[] s_classes =
    [
        ("LlamaForCausalLM", "llama"), ("MistralForCausalLM", "mistral"), ("Qwen2ForCausalLM", "qwen2"), ("Qwen3ForCausalLM", "qwen3"),
        ("Phi3ForCausalLM", "phi3"), ("GraniteForCausalLM", "granite"), ("Olmo2ForCausalLM", "olmo2"), (Gemma3, "gemma3_text"),
    ];

    private const string Gemma3 = "Gemma3ForCausalLM";

    /// <summary>The architectures Copal runs, as written in <c>config.json</c>'s <c>architectures</c>.</summary>
    public static IReadOnlyList<string> SupportedArchitectures { get; } = [.. s_classes.Select(c => c.Architecture)];

    /// <summary>The supported architecture whose model_type is <paramref name="modelType"/>, or null.</summary>
    internal static string? ArchitectureOf(string? modelType) => s_classes.FirstOrDefault(c => c.ModelType == modelType).Architecture;

    /// <summary>The model_type of a supported <paramref name="architecture"/>.</summary>
    internal static string ModelTypeOf(string architecture) => s_classes.First(c => c.Architecture == architecture).ModelType;

    /// <summary>
    /// The HF architecture, one of <see cref="SupportedArchitectures"/>: <c>architectures[0]</c>, or derived from
    /// <c>model_type</c> when that list is missing.
    /// </summary>
    public required string Architecture { get; init; }
    /// <summary>Model width (HF <c>hidden_size</c>).</summary>
    public required int HiddenSize { get; init; }
    /// <summary>MLP width (HF <c>intermediate_size</c>).</summary>
    public required int IntermediateSize { get; init; }
    /// <summary>Decoder layers (HF <c>num_hidden_layers</c>).</summary>
    public required int NumLayers { get; init; }
    /// <summary>Query heads (HF <c>num_attention_heads</c>); a multiple of <see cref="NumKvHeads"/>.</summary>
    public required int NumHeads { get; init; }
    /// <summary>Key/value heads; fewer than <see cref="NumHeads"/> means grouped-query attention.</summary>
    public required int NumKvHeads { get; init; }
    /// <summary>Width of one attention head, even (HF <c>head_dim</c>; when absent, <see cref="HiddenSize"/> / <see cref="NumHeads"/>).</summary>
    public required int HeadDim { get; init; }
    /// <summary>
    /// The leading elements of each head RoPE turns: <see cref="HeadDim"/>, or on a Phi-3 HeadDim ·
    /// <c>partial_rotary_factor</c> (Phi-4-mini: 96 of 128). Even. 0 in a config built by hand means HeadDim.
    /// </summary>
    public int RotaryDim
    {
        get => _rotaryDim != 0 ? _rotaryDim : HeadDim;
        init => _rotaryDim = value;
    }

    private readonly int _rotaryDim;
    /// <summary>Tokens in the embedding and lm_head (HF <c>vocab_size</c>).</summary>
    public required int VocabSize { get; init; }
    /// <summary>The model's context in positions (HF <c>max_position_embeddings</c>): no run goes beyond it.</summary>
    public required int MaxPositionEmbeddings { get; init; }
    /// <summary>The ε added to the mean square in every RMSNorm (HF <c>rms_norm_eps</c>; default 1e-6).</summary>
    public required double RmsNormEps { get; init; }
    /// <summary>RoPE base frequency θ (HF <c>rope_theta</c>; default 10000).</summary>
    public required double RopeTheta { get; init; }
    /// <summary>RoPE frequency scaling (HF <c>rope_scaling</c>); <see cref="RopeScalingKind.None"/> when absent or "default".</summary>
    public required RopeScalingConfig RopeScaling { get; init; }
    /// <summary>lm_head reuses the embedding matrix (HF <c>tie_word_embeddings</c>; default false).</summary>
    public required bool TieWordEmbeddings { get; init; }
    /// <summary>
    /// q/k/v projections carry biases: Qwen2 always; LLaMA and Qwen3 with <c>attention_bias: true</c>, which gives
    /// o_proj one too (<see cref="OutputProjectionBias"/>); never Mistral.
    /// </summary>
    public required bool AttentionBias { get; init; }
    /// <summary>o_proj carries a bias: <see cref="AttentionBias"/> on LLaMA and Qwen3 (Qwen2's o_proj has none).</summary>
    public bool OutputProjectionBias => AttentionBias && Architecture != "Qwen2ForCausalLM";
    /// <summary>
    /// Each query head and each key head is RMS-normalized (its own weight of head_dim, the config's eps) after the
    /// projections and before RoPE: Qwen3.
    /// </summary>
    public bool QueryKeyNorm { get; init; }
    /// <summary>
    /// The q/k norms span all heads at once (OLMo 2: weights of heads·head_dim and kv heads·head_dim), where Qwen3's
    /// norm each head alone (weights of head_dim).
    /// </summary>
    public bool QueryKeyNormAcrossHeads => Architecture == "Olmo2ForCausalLM";
    /// <summary>
    /// OLMo 2's placement of the norms: none on a branch's input; the attention output and the MLP output are each
    /// RMS-normalized (post_attention_layernorm, post_feedforward_layernorm) before their residual adds.
    /// </summary>
    public bool PostBranchNorms => Architecture == "Olmo2ForCausalLM";
    /// <summary>
    /// Gemma 3's four norms a layer: the input norm, the attention output normed (post_attention_layernorm) before its
    /// residual add, the MLP input (pre_feedforward_layernorm) and the MLP output (post_feedforward_layernorm).
    /// </summary>
    public bool SandwichNorms => Architecture == Gemma3;
    /// <summary>
    /// Every RMSNorm weight is stored as an offset from 1 and applied as 1 + w (Gemma3RMSNorm); the loader adds the 1,
    /// in f32 as transformers does, so the kernels see the plain weight.
    /// </summary>
    public bool NormWeightOffsets => Architecture == Gemma3;
    /// <summary>The MLP gate is gelu_pytorch_tanh(gate) · up (Gemma's <c>hidden_activation</c>) rather than silu(gate) · up.</summary>
    public bool GeluGate => Architecture == Gemma3;
    /// <summary>
    /// Gemma 3's <c>rope_local_base_freq</c>: the RoPE base of its sliding (local) layers, without rope_scaling, while
    /// the global layers use <see cref="RopeTheta"/> and <see cref="RopeScaling"/>; null for every other architecture.
    /// </summary>
    public double? LocalRopeTheta { get; init; }
    /// <summary>Gemma 3's <c>query_pre_attn_scalar</c>: q·k is scaled by its inverse square root, not head_dim's (default 256).</summary>
    public double QueryPreAttnScalar { get; init; } = 256;
    /// <summary>Whether <paramref name="layer"/> turns q and k with the local RoPE table (<see cref="LocalRopeTheta"/>): Gemma 3's sliding layers.</summary>
    public bool UsesLocalRope(int layer) => LocalRopeTheta is not null && SlidingWindowLayers.Contains(layer);
    /// <summary>
    /// The checkpoint stores q/k/v as one <c>qkv_proj</c> and gate/up as one <c>gate_up_proj</c> (Phi-3):
    /// <see cref="Weights.ModelCheckpoint"/> reads them as the separate projections.
    /// </summary>
    public bool FusedProjections => Architecture == "Phi3ForCausalLM";
    /// <summary>
    /// The token embeddings are multiplied by this before the first layer: Granite's <c>embedding_multiplier</c>; on
    /// Gemma 3 √hidden_size rounded to the model's dtype (<see cref="GemmaEmbeddingScale"/>); 1 elsewhere.
    /// </summary>
    public double EmbeddingMultiplier
    {
        get => Architecture == Gemma3 ? GemmaEmbeddingScale(HiddenSize, TorchDtype) : _embeddingMultiplier;
        init => _embeddingMultiplier = value;
    }

    private readonly double _embeddingMultiplier = 1.0;
    /// <summary>Each attention and MLP output is multiplied by this before its residual add (Granite's <c>residual_multiplier</c>; 1 elsewhere).</summary>
    public double ResidualMultiplier { get; init; } = 1.0;
    /// <summary>
    /// The scale of the attention scores: Granite's <c>attention_multiplier</c> (HF's default 1.0, not 1/√head_dim), on
    /// Gemma 3 <see cref="QueryPreAttnScalar"/>^−½, or null for the usual 1/√head_dim; see <see cref="AttentionScale"/>.
    /// </summary>
    public double? AttentionMultiplier
    {
        get => Architecture == Gemma3 ? Math.Pow(QueryPreAttnScalar, -0.5) : _attentionMultiplier;
        init => _attentionMultiplier = value;
    }

    private readonly double? _attentionMultiplier;
    /// <summary>The logits are divided by this (Granite's <c>logits_scaling</c>; 1 elsewhere).</summary>
    public double LogitsScaling { get; init; } = 1.0;
    /// <summary>What q·k is multiplied by before the softmax: <see cref="AttentionMultiplier"/>, else 1/√head_dim.</summary>
    public float AttentionScale => AttentionMultiplier is double m ? (float)m : 1f / MathF.Sqrt(HeadDim);
    /// <summary>Any of Granite's multipliers differs from the plain LLaMA computation.</summary>
    public bool HasMultipliers => EmbeddingMultiplier != 1.0 || ResidualMultiplier != 1.0 || AttentionMultiplier is not null || LogitsScaling != 1.0;

    /// <summary>
    /// HF <c>dtype</c> ("float32", "bfloat16", "float16"), or null when absent; transformers 4.56 renamed the field
    /// from <c>torch_dtype</c>, which older configs hold and which is read where <c>dtype</c> is absent.
    /// </summary>
    public string? TorchDtype { get; init; }
    /// <summary>HF <c>bos_token_id</c>, or null when absent.</summary>
    public int? BosTokenId { get; init; }
    /// <summary>
    /// HF <c>eos_token_id</c> (one id or a list), empty when absent. <see cref="Generation.StopTokens.Of"/> adds
    /// generation_config.json's and the tokenizer's EOS: the stop ids <see cref="Serving.InferenceEngine"/> and
    /// <c>copal generate</c> use.
    /// </summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    /// <summary>
    /// HF <c>sliding_window</c> where the model attends through one (Mistral 7B v0.1: 4,096; Qwen2 and Qwen3 only with
    /// <c>use_sliding_window</c>; never LLaMA, whose HF class has no such field), else null. The layers of
    /// <see cref="SlidingWindowLayers"/> attend the last this many positions; see <see cref="AttentionWindow"/>.
    /// </summary>
    public int? SlidingWindow { get; init; }
    /// <summary>
    /// The layers, ascending, that attend through <see cref="SlidingWindow"/>, as Hugging Face picks them: every layer
    /// of a Mistral; a Qwen2's or Qwen3's from <c>max_window_layers</c> (default 28) on; or, where the config lists
    /// <c>layer_types</c>, those it names "sliding_attention". Empty without a window.
    /// </summary>
    public IReadOnlyList<int> SlidingWindowLayers { get; init; } = [];

    /// <summary>
    /// The attention window of <paramref name="layer"/> for <see cref="Copal.Tensors.Backends.AttentionShape.Window"/>: the
    /// sliding window where the layer has one, else 0 (every earlier position).
    /// </summary>
    public int AttentionWindow(int layer) => SlidingWindow is int window && SlidingWindowLayers.Contains(layer) ? window : 0;

    /// <summary>
    /// This config, where it names no dtype and is a Gemma 3's, with the dtype of its stored embedding
    /// (<paramref name="embedding"/>): transformers casts Gemma's √hidden to the embedding weight's dtype and loads a
    /// config silent on it in the checkpoint's ("auto"), so a BF16 Gemma 3 without <c>torch_dtype</c> scales by the
    /// bfloat16 root as one that names bfloat16 (<see cref="GemmaEmbeddingScale"/>), not by the f32 one.
    /// </summary>
    public LlamaConfig WithStoredDtype(Copal.Tensors.DType embedding) => Architecture != Gemma3 || TorchDtype is not null ? this : this with
    {
        TorchDtype = embedding switch
        {
            Copal.Tensors.DType.BF16 => "bfloat16",
            Copal.Tensors.DType.F16 => "float16",
            Copal.Tensors.DType.F64 => "float64",
            _ => "float32",
        },
    };

    /// <summary>
    /// Gemma's embedding normalizer √hidden as transformers builds it: an f32 tensor cast to the model's dtype
    /// (bfloat16: √1152 = 33.94 becomes 34; float16 likewise), so the value a bf16 checkpoint was trained with.
    /// </summary>
    public static double GemmaEmbeddingScale(int hidden, string? dtype)
    {
        float scale = (float)Math.Sqrt(hidden);
        return dtype switch
        {
            "bfloat16" => Copal.Tensors.Numerics.FloatConvert.BF16ToSingle(Copal.Tensors.Numerics.FloatConvert.SingleToBF16(scale)),
            "float16" => (float)(Half)scale,
            _ => scale,
        };
    }

    /// <summary>Width of the query projection output: heads × head_dim.</summary>
    public int QDim => NumHeads * HeadDim;
    /// <summary>Width of each of the key and value projection outputs: kv heads × head_dim.</summary>
    public int KvDim => NumKvHeads * HeadDim;

    /// <summary>Reads <paramref name="path"/> (a config.json, or a folder holding one).</summary>
    public static LlamaConfig Load(string path)
    {
        // "" would read the working folder's config.json (Path.Combine("", name) is name).
        ArgumentException.ThrowIfNullOrEmpty(path);
        bool folder = Directory.Exists(path) || !path.EndsWith(".json", StringComparison.OrdinalIgnoreCase);
        return LoadFile(folder ? Path.Combine(path, "config.json") : path);
    }

    /// <summary>Reads the config file <paramref name="file"/>, whatever its name.</summary>
    public static LlamaConfig LoadFile(string file)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (Directory.Exists(file))
        {
            throw new ModelConfigException(file, "is a directory, expected a file (a model folder needs a Hugging Face config.json)");
        }
        if (!File.Exists(file))
        {
            throw new ModelConfigException(file, "file not found (a model folder needs a Hugging Face config.json)");
        }
        string text;
        try
        {
            text = Copal.Tensors.IO.BoundedFile.ReadAllText(file, Copal.Tensors.IO.BoundedFile.SideFileMaxBytes, "a config.json");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelConfigException(file, $"cannot be read: {Copal.Tensors.IO.ReadFailure.Reason(e)}", e);
        }
        return Parse(text, file);
    }

    /// <summary>Parses config.json text; <paramref name="source"/> names it in errors.</summary>
    public static LlamaConfig Parse(string json, string source)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new ModelConfigException(source, $"is not valid JSON {JsonProblem.At(e)}", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new ModelConfigException(source, $"expected a JSON object at the top level, found {doc.RootElement.ValueKind}");
            }
            return Bind(new ConfigReader(doc.RootElement, source));
        }
    }

    private static LlamaConfig Bind(ConfigReader r)
    {
        string architecture = r.Architecture();
        int hidden = r.RequiredInt("hidden_size", min: 1);
        int heads = r.RequiredInt("num_attention_heads", min: 1);
        int kvHeads = r.OptionalInt("num_key_value_heads", min: 1) ?? heads;
        if (heads % kvHeads != 0)
        {
            throw r.Error($"num_attention_heads ({heads}) must be a multiple of num_key_value_heads ({kvHeads})");
        }
        bool gemma = architecture == Gemma3;
        // Qwen3Config's head_dim is 128 when the field is absent, Gemma3TextConfig's 256; the others derive it from the hidden size.
        int? headDimField = r.OptionalInt("head_dim", min: 1) ?? (architecture == "Qwen3ForCausalLM" ? 128 : gemma ? 256 : null);
        if (headDimField is null && hidden % heads != 0)
        {
            throw r.Error($"hidden_size ({hidden}) is not a multiple of num_attention_heads ({heads}) and no head_dim is given");
        }
        int headDim = headDimField ?? hidden / heads;
        if ((long)heads * headDim > int.MaxValue)
        {
            throw r.Error(FormattableString.Invariant($"num_attention_heads × head_dim must be at most {int.MaxValue}, found {heads} × {headDim}"));
        }
        if (headDim % 2 != 0)
        {
            throw r.Error(FormattableString.Invariant($"head_dim must be even for rotary embeddings, got {headDim}"));
        }
        if (gemma)
        {
            // Gemma3TextConfig reads hidden_activation and ignores hidden_act.
            GemmaChecks.Require(r);
        }
        else if ((r.OptionalString("hidden_act") ?? "silu") is var act && act != "silu")
        {
            throw r.Error($"hidden_act '{act}' is not supported (expected 'silu')");
        }
        if (r.OptionalBool("mlp_bias") == true)
        {
            throw r.Error("mlp_bias: true is not supported (LLaMA-family MLPs have no biases)");
        }
        bool qwen2 = architecture == "Qwen2ForCausalLM";
        bool phi3 = architecture == "Phi3ForCausalLM";
        // Phi-4-mini turns three quarters of each head (Phi3Config's partial_rotary_factor; the other classes have none).
        int rotaryDim = headDim;
        if (!phi3 && r.RopeDouble("partial_rotary_factor") is double other && other != 1.0)
        {
            // transformers' RoPE setup reads the field for every class, but only Phi-3's attention turns part of a head.
            throw r.Error(FormattableString.Invariant($"field '{r.RopeFieldName("partial_rotary_factor")}' must be 1 on {architecture} (only Phi3ForCausalLM turns part of each head), found {other}"));
        }
        if (phi3 && r.RopeDouble("partial_rotary_factor") is double partial)
        {
            rotaryDim = (int)(headDim * partial);
            if (partial > 1 || rotaryDim < 2 || rotaryDim % 2 != 0)
            {
                throw r.Error(FormattableString.Invariant(
                    $"{r.RopeFieldName("partial_rotary_factor")} {partial} must turn an even number of a head's {headDim} elements, at least 2 and at most all; it gives {rotaryDim}"));
            }
        }
        int layers = r.RequiredInt("num_hidden_layers", min: 1);
        (int? slidingWindow, IReadOnlyList<int> slidingLayers) = ReadSlidingWindow(r, architecture, layers);
        int vocab = r.RequiredInt("vocab_size", min: 1);
        // Gemma3TextConfig's defaults: bos 2, eos 1.
        int? bos = r.OptionalInt("bos_token_id", min: 0) ?? (gemma && !r.Has("bos_token_id") ? 2 : null);
        IReadOnlyList<int> eos = gemma && !r.Has("eos_token_id") ? [1] : r.IntOrIntList("eos_token_id");
        // An id the embedding does not have: generation could never stop on it, or would index past the table.
        foreach (var (name, id) in eos.Select(id => ("eos_token_id", id)).Prepend(("bos_token_id", bos ?? 0)))
        {
            if (id < 0 || id >= vocab)
            {
                throw r.Error(FormattableString.Invariant($"field '{name}' must be a token id in 0..{vocab - 1} (vocab_size {vocab}), found {id}"));
            }
        }
        int maxPositions = r.RequiredInt("max_position_embeddings", min: 1);
        // GraniteConfig's four multipliers, each 1.0 when absent (the attention one too: then q·k is not scaled at all).
        bool granite = architecture == "GraniteForCausalLM";
        return new LlamaConfig
        {
            Architecture = architecture,
            RotaryDim = rotaryDim,
            HiddenSize = hidden,
            IntermediateSize = r.RequiredInt("intermediate_size", min: 1),
            NumLayers = layers,
            NumHeads = heads,
            NumKvHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = vocab,
            MaxPositionEmbeddings = maxPositions,
            // Phi3Config's and Olmo2Config's default is 1e-5; LlamaConfig's, MistralConfig's and the Qwen configs' 1e-6.
            RmsNormEps = r.OptionalDouble("rms_norm_eps") ?? (phi3 || architecture == "Olmo2ForCausalLM" ? 1e-5 : 1e-6),
            RopeTheta = r.RopeDouble("rope_theta") ?? (gemma ? 1_000_000.0 : 10000.0),
            LocalRopeTheta = gemma ? r.OptionalDouble("rope_local_base_freq") ?? 10000.0 : null,
            QueryPreAttnScalar = gemma ? r.OptionalDouble("query_pre_attn_scalar") ?? 256 : 256,
            RopeScaling = r.RopeScaling(maxPositions, rotaryDim / 2, phi3),
            TieWordEmbeddings = r.OptionalBool("tie_word_embeddings") ?? gemma,
            // Qwen2's q/k/v always carry biases; MistralAttention and Phi3Attention have none whatever the config says.
            AttentionBias = qwen2 || (architecture is not ("MistralForCausalLM" or "Phi3ForCausalLM") && (r.OptionalBool("attention_bias") ?? false)),
            QueryKeyNorm = architecture is "Qwen3ForCausalLM" or "Olmo2ForCausalLM" or Gemma3,
            TorchDtype = r.OptionalString("dtype") ?? r.OptionalString("torch_dtype"),
            BosTokenId = bos,
            EosTokenIds = eos,
            SlidingWindow = slidingWindow,
            SlidingWindowLayers = slidingLayers,
            EmbeddingMultiplier = granite ? r.OptionalDouble("embedding_multiplier") ?? 1.0 : 1.0,
            ResidualMultiplier = granite ? r.OptionalDouble("residual_multiplier") ?? 1.0 : 1.0,
            AttentionMultiplier = granite ? r.OptionalDouble("attention_multiplier") ?? 1.0 : null,
            LogitsScaling = granite ? r.OptionalDouble("logits_scaling") ?? 1.0 : 1.0,
        };
    }

    /// <summary>
    /// The window and the layers it applies to, with Hugging Face's defaults: MistralConfig's sliding_window is 4,096
    /// when the field is absent (null turns it off); Phi3Config's applies to every layer when set (Phi-3-mini-4k: 2,047);
    /// Qwen2Config's and Qwen3Config's apply only with use_sliding_window, to layers from max_window_layers (28) on;
    /// LlamaConfig has none.
    /// </summary>
    private static (int? Window, IReadOnlyList<int> Layers) ReadSlidingWindow(ConfigReader r, string architecture, int layers)
    {
        bool qwen = architecture is "Qwen2ForCausalLM" or "Qwen3ForCausalLM", gemma = architecture == Gemma3;
        bool slides = gemma || architecture is "MistralForCausalLM" or "Phi3ForCausalLM" || (qwen && r.OptionalBool("use_sliding_window") == true);
        int? window = !slides ? null : r.Has("sliding_window") || architecture == "Phi3ForCausalLM" ? r.OptionalInt("sliding_window", min: 1) : 4096;
        if (gemma && window is null)
        {
            throw r.Error("field 'sliding_window' must be a positive integer on Gemma3ForCausalLM (its sliding layers attend through it), found null");
        }
        // Only Qwen2Config, Qwen3Config and Gemma3TextConfig read layer_types; the others' HF classes ignore the field.
        IReadOnlyList<string>? types = qwen || gemma ? r.OptionalStringList("layer_types") : null;
        if (gemma && types is null)
        {
            // Gemma3TextConfig's older form: every pattern-th layer global (layer i slides unless (i + 1) % pattern is 0).
            int pattern = r.OptionalInt("sliding_window_pattern", min: 1) ?? 6;
            types = [.. Enumerable.Range(0, layers).Select(i => (i + 1) % pattern != 0 ? "sliding_attention" : "full_attention")];
        }
        if (types is not null && types.Count != layers)
        {
            throw r.Error(FormattableString.Invariant($"field 'layer_types' must name one attention type per layer ({layers}), found {types.Count}"));
        }
        foreach (string type in types ?? [])
        {
            if (type is not ("full_attention" or "sliding_attention"))
            {
                throw r.Error($"field 'layer_types' holds '{type}'; supported: full_attention, sliding_attention");
            }
        }
        if (window is null)
        {
            return (null, []);
        }
        if (types is not null)
        {
            int[] listed = [.. Enumerable.Range(0, layers).Where(i => types[i] == "sliding_attention")];
            return listed.Length == 0 ? (null, []) : (window, listed);
        }
        // Layers from..layers-1 as a range, not a list: a config that claims 2^31 layers is refused when the
        // checkpoint opens (LayerCount), so reading it must not first hold an entry per claimed layer. Range's
        // IReadOnlyList has O(1) Count, indexer and Contains.
        int from = Math.Min(qwen ? r.OptionalInt("max_window_layers", min: 0) ?? 28 : 0, layers);
        IEnumerable<int> sliding = Enumerable.Range(from, layers - from);
        return from == layers ? (null, []) : (window, sliding as IReadOnlyList<int> ?? [.. sliding]);
    }

    /// <summary>A short human summary for <c>copal inspect</c>.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Architecture}: {NumLayers} layers, hidden {HiddenSize}, MLP {IntermediateSize}, {NumHeads} heads ({NumKvHeads} kv, head_dim {HeadDim}), vocab {VocabSize}, context {MaxPositionEmbeddings}, rope θ {RopeTheta}{(RopeScaling.Kind == RopeScalingKind.None ? "" : string.Create(CultureInfo.InvariantCulture, $" ({RopeScaling.Kind} ×{RopeScaling.Factor})"))}, eps {RmsNormEps}{(TieWordEmbeddings ? ", tied embeddings" : "")}{(OutputProjectionBias ? ", q/k/v/o bias" : AttentionBias ? ", qkv bias" : "")}{(QueryKeyNorm ? QueryKeyNormAcrossHeads ? ", q/k norm across heads" : ", q/k norm" : "")}{(PostBranchNorms ? ", norms after each branch" : "")}{SlidingWindowSummary()}{MultiplierSummary()}{GemmaSummary()}");

    private string GemmaSummary() => Architecture != Gemma3 ? ""
        : string.Create(CultureInfo.InvariantCulture, $", norms before and after each branch (1 + w), GELU-tanh gate, embeddings ×{EmbeddingMultiplier}, attention scale {AttentionScale}, local rope θ {LocalRopeTheta}");

    private string MultiplierSummary() => !HasMultipliers || Architecture == Gemma3 ? ""
        : string.Create(CultureInfo.InvariantCulture, $", multipliers: embedding {EmbeddingMultiplier}, residual {ResidualMultiplier}, attention {AttentionScale}, logits ÷{LogitsScaling}");

    private string SlidingWindowSummary() => SlidingWindow is not int window ? ""
        : SlidingWindowLayers.Count == NumLayers ? string.Create(CultureInfo.InvariantCulture, $", sliding window {window}")
        : string.Create(CultureInfo.InvariantCulture, $", sliding window {window} on {SlidingWindowLayers.Count} of {NumLayers} layers");
}
