using Copal.Tensors.Backends;

namespace Copal.Model.Weights;

/// <summary>One decoder layer's parameters on a backend. Linear weights are [out, in] in their stored dtype.</summary>
public sealed class DecoderLayerWeights : IDisposable
{
    private readonly DeviceWeight[] _linears;
    // What Dispose frees: everything, or only the replacements of a layer built by WithLinears.
    private readonly IReadOnlyList<IDisposable>? _owned;

    /// <summary>A layer that owns every buffer and weight it is given: <see cref="Dispose"/> frees them all.</summary>
    /// <param name="inputNorm">RMSNorm weight before attention; null where the model has none (OLMo 2). // [hidden]</param>
    /// <param name="postAttentionNorm">RMSNorm weight before the MLP (OLMo 2: of the attention output). // [hidden]</param>
    /// <param name="linears">The seven linear weights, indexed by <see cref="LinearId"/>.</param>
    /// <param name="biases">Per-linear biases indexed by <see cref="LinearId"/>, null where absent; null for none.</param>
    /// <param name="queryKeyNorms">The RMSNorm weights of the queries and the keys, or null: Qwen3's per head ([headDim] each), OLMo 2's across heads ([heads·headDim], [kvHeads·headDim]).</param>
    /// <param name="postFeedforwardNorm">The RMSNorm weight of the MLP output (OLMo 2, Gemma 3), else null. // [hidden]</param>
    /// <param name="preFeedforwardNorm">Gemma 3's RMSNorm weight of the MLP input, else null (the post-attention norm is it). // [hidden]</param>
    /// <exception cref="ArgumentException"><paramref name="linears"/> does not hold exactly seven weights.</exception>
    public DecoderLayerWeights(DeviceBuffer? inputNorm, DeviceBuffer postAttentionNorm, DeviceWeight[] linears, DeviceBuffer?[]? biases = null,
        (DeviceBuffer Query, DeviceBuffer Key)? queryKeyNorms = null, DeviceBuffer? postFeedforwardNorm = null, DeviceBuffer? preFeedforwardNorm = null)
        : this(inputNorm, postAttentionNorm, linears, biases, queryKeyNorms, postFeedforwardNorm, preFeedforwardNorm, owned: null)
    {
    }

    private DecoderLayerWeights(DeviceBuffer? inputNorm, DeviceBuffer postAttentionNorm, DeviceWeight[] linears, DeviceBuffer?[]? biases,
        (DeviceBuffer Query, DeviceBuffer Key)? queryKeyNorms, DeviceBuffer? postFeedforwardNorm, DeviceBuffer? preFeedforwardNorm, IReadOnlyList<IDisposable>? owned)
    {
        _owned = owned;
        ArgumentNullException.ThrowIfNull(linears);
        if (linears.Length != LinearIds.All.Count)
        {
            throw new ArgumentException($"expected {LinearIds.All.Count} linear weights, got {linears.Length}", nameof(linears));
        }
        InputNorm = inputNorm;
        PostAttentionNorm = postAttentionNorm;
        _linears = linears;
        Biases = biases ?? new DeviceBuffer?[linears.Length];
        QueryKeyNorms = queryKeyNorms;
        PostFeedforwardNorm = postFeedforwardNorm;
        PreFeedforwardNorm = preFeedforwardNorm;
    }

    /// <summary>RMSNorm weight before attention; null on OLMo 2, whose branches read the residual stream itself. // [hidden]</summary>
    public DeviceBuffer? InputNorm { get; }
    /// <summary>RMSNorm weight before the MLP (OLMo 2: of the attention output, before its residual add). // [hidden]</summary>
    public DeviceBuffer PostAttentionNorm { get; }
    /// <summary>The RMSNorm weight of the MLP output, before its residual add (OLMo 2, Gemma 3); null elsewhere. // [hidden]</summary>
    public DeviceBuffer? PostFeedforwardNorm { get; }
    /// <summary>Gemma 3's RMSNorm weight of the MLP input (pre_feedforward_layernorm); null elsewhere. // [hidden]</summary>
    public DeviceBuffer? PreFeedforwardNorm { get; }
    /// <summary>Per-linear biases (q/k/v on Qwen2), indexed by <see cref="LinearId"/>; null where absent.</summary>
    public IReadOnlyList<DeviceBuffer?> Biases { get; }
    /// <summary>
    /// The RMSNorm weights of the queries and keys (<c>self_attn.q_norm</c>, <c>self_attn.k_norm</c>), applied after the
    /// projections and before RoPE: Qwen3's over each head ([headDim] each), OLMo 2's over all heads at once ([heads·headDim],
    /// [kvHeads·headDim]); null for the other architectures.
    /// </summary>
    public (DeviceBuffer Query, DeviceBuffer Key)? QueryKeyNorms { get; }

    /// <summary>q_proj [heads·headDim, hidden], k_proj/v_proj [kvHeads·headDim, hidden], o_proj [hidden, heads·headDim],
    /// gate_proj/up_proj [intermediate, hidden], down_proj [hidden, intermediate].</summary>
    public DeviceWeight this[LinearId id] => _linears[(int)id];

    /// <summary>
    /// The same layer with some linears replaced (a pruned layer). The result shares everything else with this one
    /// and, when disposed, frees only the replacements.
    /// </summary>
    public DecoderLayerWeights WithLinears(IReadOnlyDictionary<LinearId, DeviceWeight> replacements)
    {
        ArgumentNullException.ThrowIfNull(replacements);
        var linears = (DeviceWeight[])_linears.Clone();
        foreach ((LinearId id, DeviceWeight w) in replacements)
        {
            DeviceWeight old = linears[(int)id];
            if (w.Rows != old.Rows || w.Cols != old.Cols)
            {
                throw new ArgumentException($"replacement for {old.Name} is [{w.Rows}, {w.Cols}], expected [{old.Rows}, {old.Cols}]", nameof(replacements));
            }
            linears[(int)id] = w;
        }
        return new DecoderLayerWeights(InputNorm, PostAttentionNorm, linears, Biases.ToArray(), QueryKeyNorms, PostFeedforwardNorm, PreFeedforwardNorm, replacements.Values.ToList());
    }

    /// <summary>
    /// Frees what the layer owns: everything it was built with, or, for a layer made by <see cref="WithLinears"/>,
    /// only the replacements.
    /// </summary>
    public void Dispose()
    {
        if (_owned is not null)
        {
            foreach (IDisposable d in _owned)
            {
                d.Dispose();
            }
            return;
        }
        InputNorm?.Dispose();
        PostAttentionNorm.Dispose();
        PostFeedforwardNorm?.Dispose();
        PreFeedforwardNorm?.Dispose();
        foreach (DeviceWeight w in _linears)
        {
            w.Dispose();
        }
        foreach (DeviceBuffer? b in Biases)
        {
            b?.Dispose();
        }
        QueryKeyNorms?.Query.Dispose();
        QueryKeyNorms?.Key.Dispose();
    }
}
