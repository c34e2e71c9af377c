using Copal.Model.Config;
using Copal.Tensors;
using Copal.Tensors.Safetensors;

namespace Copal.Model.Weights;

/// <summary>
/// A model folder's weights under the LLaMA names every part of Copal reads (<see cref="LlamaTensorNames"/>), whatever
/// the architecture stores: Phi-3's fused qkv_proj and gate_up_proj are seen as their q/k/v and gate/up row ranges,
/// without a copy. Folders that already hold the separate projections (a pruned Phi-3 is written so) open as they are.
/// </summary>
public static class ModelCheckpoint
{
    /// <summary>Opens <paramref name="directory"/>'s weights for the model <paramref name="config"/> describes.</summary>
    /// <exception cref="SafetensorsException">The files are unreadable, or a fused tensor has the wrong number of rows.</exception>
    public static SafetensorsCheckpoint Open(string directory, LlamaConfig config, WeightResidence residence = WeightResidence.Mapped, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(directory, residence, cancellationToken);
        try
        {
            if (config.FusedProjections)
            {
                Split(checkpoint, config);
            }
            return checkpoint;
        }
        catch
        {
            checkpoint.Dispose();
            throw;
        }
    }

    /// <summary>Opens <paramref name="directory"/>'s weights for the model its config.json describes.</summary>
    public static SafetensorsCheckpoint Open(string directory, WeightResidence residence = WeightResidence.Mapped, CancellationToken cancellationToken = default) =>
        Open(directory, LlamaConfig.Load(directory), residence, cancellationToken);

    private static void Split(SafetensorsCheckpoint checkpoint, LlamaConfig config)
    {
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            if (checkpoint.TryGet(LlamaTensorNames.FusedQkv(layer), out _))
            {
                checkpoint.SplitRows(LlamaTensorNames.FusedQkv(layer),
                [
                    (LlamaTensorNames.Linear(layer, LinearId.QProj), config.QDim),
                    (LlamaTensorNames.Linear(layer, LinearId.KProj), config.KvDim),
                    (LlamaTensorNames.Linear(layer, LinearId.VProj), config.KvDim),
                ]);
            }
            if (checkpoint.TryGet(LlamaTensorNames.FusedGateUp(layer), out _))
            {
                checkpoint.SplitRows(LlamaTensorNames.FusedGateUp(layer),
                [
                    (LlamaTensorNames.Linear(layer, LinearId.GateProj), config.IntermediateSize),
                    (LlamaTensorNames.Linear(layer, LinearId.UpProj), config.IntermediateSize),
                ]);
            }
        }
    }
}
