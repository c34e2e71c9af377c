using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Prune.Driver;

namespace Copal.Prune.Continual;

// What a save after this step takes on disk, known before the step runs.
public sealed partial class CopalState
{
    /// <summary>
    /// The tensor data of the state file (<see cref="TensorsFileName"/>, less its few-KB header) that a save after
    /// a step over <paramref name="layers"/> of <paramref name="config"/> (every decoder layer where null) writes:
    /// each linear's column vector, and each input group's accumulated matrices that the options keep (the Hessian
    /// for <c>--update</c> or <c>--mask obs</c>; under <c>--mask obs</c> also the dense-upstream Hessian of
    /// <see cref="StatisticsUpstream.Mixed"/> and the cross term of a dense target), with what the state holds already.
    /// A 7B state with <c>--mask obs</c> is about 11 GB beside the 13.5 GB model, so a run checks both against the
    /// free space before its pruning, not at the save after it.
    /// </summary>
    public long ProjectedTensorBytes(LlamaConfig config, IReadOnlySet<int>? layers = null) => Projected(config, layers).FileBytes;

    /// <summary>
    /// <see cref="ProjectedTensorBytes"/>, and the largest one matrix of it: a save streams each spilled matrix into the
    /// file before deleting its spill file, so at most that one is on disk twice.
    /// </summary>
    internal (long FileBytes, long LargestMatrixBytes) Projected(LlamaConfig config, IReadOnlySet<int>? layers)
    {
        ArgumentNullException.ThrowIfNull(config);
        bool obs = Options.Mask == CopalMaskRule.Obs;
        bool main = Options.Update || obs, denseUpstream = obs && Options.ResolvedUpstream == StatisticsUpstream.Mixed, crossTerm = obs && Options.NeedsUpstreamShift;
        var kept = _linears.Values.ToDictionary(l => l.Name, l => (l.Cols, Slots: new[] { l.HasHessian, l.HasDenseUpstreamHessian, l.HasCrossTerm }), StringComparer.Ordinal);
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            if (layers is not null && !layers.Contains(layer))
            {
                continue;
            }
            foreach (LinearId id in LinearIds.All)
            {
                // The accumulated matrices live on an input group's first linear (q for q/k/v, gate for gate/up).
                bool leader = id == id.InputGroupLeader();
                string name = LlamaTensorNames.Linear(layer, id);
                bool[] had = kept.TryGetValue(name, out var k) ? k.Slots : [false, false, false];
                kept[name] = (LlamaWeights.LinearShape(config, id).In, [had[0] || (leader && main), had[1] || (leader && denseUpstream), had[2] || (leader && crossTerm)]);
            }
        }
        long file = 0, largest = 0;
        foreach ((int cols, bool[] slots) in kept.Values)
        {
            file += (long)cols * sizeof(double);
            for (int s = 0; s < s_slots.Length; s++)
            {
                if (slots[s])
                {
                    long matrix = StoredLength(s_slots[s], cols) * sizeof(float);
                    file += matrix;
                    largest = Math.Max(largest, matrix);
                }
            }
        }
        return (file, largest);
    }
}
