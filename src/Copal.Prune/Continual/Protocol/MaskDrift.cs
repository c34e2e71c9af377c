using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Numerics;
using Copal.Tensors.Safetensors;

namespace Copal.Prune.Continual.Protocol;

/// <summary>How much a pruning mask moved between two pruned models of the same architecture (weight stasis shows as 0).</summary>
public static class MaskDrift
{
    /// <summary>The fraction of prunable weights that are zero in exactly one of the two model folders.</summary>
    public static double Fraction(string before, string after, CancellationToken cancellationToken = default)
    {
        LlamaConfig config = LlamaConfig.Load(after);
        using SafetensorsCheckpoint a = ModelCheckpoint.Open(before, cancellationToken: cancellationToken);
        using SafetensorsCheckpoint b = ModelCheckpoint.Open(after, config, cancellationToken: cancellationToken);
        long changed = 0, total = 0;
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            foreach (LinearId id in LinearIds.All)
            {
                cancellationToken.ThrowIfCancellationRequested();
                string name = LlamaTensorNames.Linear(layer, id);
                TensorView va = a[name], vb = b[name];
                if (va.ElementCount != vb.ElementCount)
                {
                    throw new InvalidDataException($"tensor '{name}' has {va.ElementCount} elements in '{before}' but {vb.ElementCount} in '{after}'");
                }
                var fa = new float[va.ElementCount];
                var fb = new float[vb.ElementCount];
                FloatConvert.ToSingle(va, fa);
                FloatConvert.ToSingle(vb, fb);
                for (int i = 0; i < fa.Length; i++)
                {
                    if ((fa[i] == 0f) != (fb[i] == 0f))
                    {
                        changed++;
                    }
                }
                total += fa.Length;
            }
        }
        return total == 0 ? 0 : (double)changed / total;
    }
}
