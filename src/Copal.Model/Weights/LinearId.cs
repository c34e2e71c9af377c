namespace Copal.Model.Weights;

/// <summary>The seven linear layers of a LLaMA decoder layer, in the order data flows through them.</summary>
public enum LinearId
{
    /// <summary>self_attn.q_proj: hidden → queries. // [heads·headDim, hidden]</summary>
    QProj,
    /// <summary>self_attn.k_proj: hidden → keys. // [kvHeads·headDim, hidden]</summary>
    KProj,
    /// <summary>self_attn.v_proj: hidden → values. // [kvHeads·headDim, hidden]</summary>
    VProj,
    /// <summary>self_attn.o_proj: attention output → hidden. // [hidden, heads·headDim]</summary>
    OProj,
    /// <summary>mlp.gate_proj: hidden → the SiLU-gated half of the MLP. // [intermediate, hidden]</summary>
    GateProj,
    /// <summary>mlp.up_proj: hidden → the linear half of the MLP. // [intermediate, hidden]</summary>
    UpProj,
    /// <summary>mlp.down_proj: silu(gate) · up → hidden. // [hidden, intermediate]</summary>
    DownProj,
}

/// <summary>Facts about <see cref="LinearId"/> values.</summary>
internal static class LinearIds
{
    /// <summary>All seven, in data-flow order.</summary>
    public static IReadOnlyList<LinearId> All { get; } =
        [LinearId.QProj, LinearId.KProj, LinearId.VProj, LinearId.OProj, LinearId.GateProj, LinearId.UpProj, LinearId.DownProj];

    /// <summary>The HF module name ("q_proj", ...).</summary>
    public static string HfName(this LinearId id) => id switch
    {
        LinearId.QProj => "q_proj",
        LinearId.KProj => "k_proj",
        LinearId.VProj => "v_proj",
        LinearId.OProj => "o_proj",
        LinearId.GateProj => "gate_proj",
        LinearId.UpProj => "up_proj",
        LinearId.DownProj => "down_proj",
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, null),
    };

    /// <summary>Linears that read the same input share statistics: q/k/v read the attention norm, gate/up the MLP norm.</summary>
    public static LinearId InputGroupLeader(this LinearId id) => id switch
    {
        LinearId.KProj or LinearId.VProj => LinearId.QProj,
        LinearId.UpProj => LinearId.GateProj,
        _ => id,
    };
}
