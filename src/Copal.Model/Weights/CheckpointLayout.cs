using Copal.Model.Config;
using Copal.Tensors;
using Copal.Tensors.Safetensors;

namespace Copal.Model.Weights;

/// <summary>
/// The tensors a checkpoint of a config's model holds, with their shapes: what <c>copal synth</c> writes and what
/// <see cref="UnusedTensors"/> allows, from one list.
/// </summary>
internal static class CheckpointLayout
{
    /// <summary>
    /// Every tensor of a dense checkpoint of <paramref name="c"/>'s model in <paramref name="dtype"/>, in file order,
    /// with whether it is an RMSNorm weight: the embedding, each layer's (<see cref="Layer"/>), the final norm, and
    /// lm_head unless tied.
    /// </summary>
    public static List<(TensorSpec Spec, bool IsNorm)> Of(LlamaConfig c, DType dtype)
    {
        var list = new List<(TensorSpec Spec, bool IsNorm)> { (new TensorSpec(LlamaTensorNames.Embedding, dtype, [c.VocabSize, c.HiddenSize]), false) };
        for (int l = 0; l < c.NumLayers; l++)
        {
            list.AddRange(Layer(c, l, dtype));
        }
        list.Add((new TensorSpec(LlamaTensorNames.FinalNorm, dtype, [c.HiddenSize]), true));
        if (!c.TieWordEmbeddings)
        {
            list.Add((new TensorSpec(LlamaTensorNames.LmHead, dtype, [c.VocabSize, c.HiddenSize]), false));
        }
        return list;
    }

    /// <summary>Layer <paramref name="l"/>'s tensors, as the loader reads them (Phi-3's fused q/k/v and gate/up as one matrix each).</summary>
    public static List<(TensorSpec Spec, bool IsNorm)> Layer(LlamaConfig c, int l, DType dtype)
    {
        var list = new List<(TensorSpec Spec, bool IsNorm)>();
        if (!c.PostBranchNorms)
        {
            list.Add((new TensorSpec(LlamaTensorNames.InputNorm(l), dtype, [c.HiddenSize]), true));
        }
        foreach (LinearId id in LinearIds.All)
        {
            (int o, int i) = LlamaWeights.LinearShape(c, id);
            if (c.FusedProjections && id is not (LinearId.OProj or LinearId.DownProj))
            {
                // Phi-3: q, k, v as one matrix and gate, up as another, rows in that order: the same values, drawn
                // in the same order, as the separate projections of a LLaMA with this seed.
                if (id is LinearId.QProj)
                {
                    list.Add((new TensorSpec(LlamaTensorNames.FusedQkv(l), dtype, [c.QDim + (2L * c.KvDim), i]), false));
                }
                else if (id is LinearId.GateProj)
                {
                    list.Add((new TensorSpec(LlamaTensorNames.FusedGateUp(l), dtype, [2L * c.IntermediateSize, i]), false));
                }
                continue;
            }
            list.Add((new TensorSpec(LlamaTensorNames.Linear(l, id), dtype, [o, i]), false));
            if ((c.AttentionBias && id is LinearId.QProj or LinearId.KProj or LinearId.VProj) || (c.OutputProjectionBias && id is LinearId.OProj))
            {
                list.Add((new TensorSpec(LlamaTensorNames.Bias(l, id), dtype, [o]), false));
            }
        }
        if (c.QueryKeyNorm)
        {
            list.Add((new TensorSpec(LlamaTensorNames.QueryNorm(l), dtype, [c.QueryKeyNormAcrossHeads ? c.QDim : c.HeadDim]), true));
            list.Add((new TensorSpec(LlamaTensorNames.KeyNorm(l), dtype, [c.QueryKeyNormAcrossHeads ? c.KvDim : c.HeadDim]), true));
        }
        list.Add((new TensorSpec(LlamaTensorNames.PostAttentionNorm(l), dtype, [c.HiddenSize]), true));
        if (c.SandwichNorms)
        {
            list.Add((new TensorSpec(LlamaTensorNames.PreFeedforwardNorm(l), dtype, [c.HiddenSize]), true));
        }
        if (c.PostBranchNorms || c.SandwichNorms)
        {
            list.Add((new TensorSpec(LlamaTensorNames.PostFeedforwardNorm(l), dtype, [c.HiddenSize]), true));
        }
        return list;
    }
}
