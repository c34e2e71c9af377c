using Copal.Model.Config;
using Copal.Tensors;
using Copal.Tensors.Safetensors;

namespace Copal.Model.Weights;

/// <summary>
/// A model folder's weights under the LLaMA names every part of Copal reads (<see cref="LlamaTensorNames"/>), whatever
/// the architecture stores: Phi-3's fused qkv_proj and gate_up_proj are seen as their q/k/v and gate/up row ranges,
/// without a copy. Folders that already hold the separate projections (a compact Phi-3 keeps them so) open as they are.
/// </summary>
internal static class ModelCheckpoint
{
    /// <summary>Opens <paramref name="directory"/>'s weights for the model <paramref name="config"/> describes.</summary>
    /// <exception cref="SafetensorsException">The files are unreadable, or a fused tensor has the wrong number of rows.</exception>
    /// <exception cref="ModelLoadException">The files hold another number of decoder layers than the config (<see cref="LayerCount"/>), or a tensor its model does not read (<see cref="UnusedTensors"/>).</exception>
    public static SafetensorsCheckpoint Open(string directory, LlamaConfig config, WeightResidence residence = WeightResidence.Mapped, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(directory, residence, cancellationToken);
        try
        {
            LayerCount.Require(checkpoint.Tensors.Select(t => t.Name), config, directory);
            UnusedTensors.Require(checkpoint.Tensors.Select(t => t.Name), config, directory);
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

    /// <summary>
    /// A tensor's name for a message: <c>'name'</c>, and where the architecture fuses it, the rows of the stored
    /// tensor that hold it, e.g. <c>'model.layers.1.self_attn.k_proj.weight' (rows 3072..4095 of
    /// 'model.layers.1.self_attn.qkv_proj.weight' as Phi3ForCausalLM stores it)</c>.
    /// </summary>
    public static string Describe(LlamaConfig config, string name)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.FusedProjections && LlamaTensorNames.TryParseLinear(name, out int layer, out LinearId id) && id is not (LinearId.OProj or LinearId.DownProj))
        {
            (string fused, int first, int rows) = id switch
            {
                LinearId.QProj => (LlamaTensorNames.FusedQkv(layer), 0, config.QDim),
                LinearId.KProj => (LlamaTensorNames.FusedQkv(layer), config.QDim, config.KvDim),
                LinearId.VProj => (LlamaTensorNames.FusedQkv(layer), config.QDim + config.KvDim, config.KvDim),
                LinearId.GateProj => (LlamaTensorNames.FusedGateUp(layer), 0, config.IntermediateSize),
                _ => (LlamaTensorNames.FusedGateUp(layer), config.IntermediateSize, config.IntermediateSize),
            };
            return FormattableString.Invariant($"'{name}' (rows {first}..{first + rows - 1} of '{fused}' as {config.Architecture} stores it)");
        }
        return $"'{name}'";
    }

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

/// <summary>A tensor to write and the tensors read under LLaMA's names whose rows make it, in order.</summary>
/// <param name="Name">The name written: a separate tensor's own, or a fused one's (Phi-3's qkv_proj, gate_up_proj).</param>
/// <param name="DType">The parts' dtype.</param>
/// <param name="Shape">The parts' shape, or for a fused tensor [the parts' rows summed, their columns].</param>
/// <param name="Parts">The tensors whose bytes, one after the other, are this one's.</param>
internal sealed record WrittenTensor(string Name, DType DType, long[] Shape, IReadOnlyList<string> Parts);

/// <summary>
/// The other way of <see cref="ModelCheckpoint"/>: how tensors read under LLaMA's names are written back in the
/// layout the architecture stores, so a Phi-3 that was pruned or densified is still a Phi-3 that Hugging Face loads.
/// </summary>
internal static class StoredLayout
{
    /// <summary>
    /// The tensors to write for <paramref name="tensors"/> (name, dtype, shape, in the order read): each as it is, except
    /// on an architecture with fused projections, where a layer's q, k, v (and gate, up) become one tensor at the place
    /// of the first of them. A null <paramref name="config"/> writes every tensor as it is.
    /// </summary>
    /// <exception cref="ArgumentException">Only some parts of a fused tensor are there, or they differ in dtype or columns.</exception>
    public static List<WrittenTensor> For(LlamaConfig? config, IEnumerable<(string Name, DType DType, long[] Shape)> tensors)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var list = tensors.ToList();
        if (config is not { FusedProjections: true })
        {
            return [.. list.Select(t => new WrittenTensor(t.Name, t.DType, t.Shape, [t.Name]))];
        }
        var groups = new Dictionary<string, (string Fused, string[] Parts)>(StringComparer.Ordinal);
        for (int layer = 0; layer < config.NumLayers; layer++)
        {
            string[] qkv = [.. new[] { LinearId.QProj, LinearId.KProj, LinearId.VProj }.Select(id => LlamaTensorNames.Linear(layer, id))];
            string[] gateUp = [.. new[] { LinearId.GateProj, LinearId.UpProj }.Select(id => LlamaTensorNames.Linear(layer, id))];
            foreach ((string fused, string[] parts) in new[] { (LlamaTensorNames.FusedQkv(layer), qkv), (LlamaTensorNames.FusedGateUp(layer), gateUp) })
            {
                foreach (string part in parts)
                {
                    groups[part] = (fused, parts);
                }
            }
        }
        var byName = list.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var written = new List<WrittenTensor>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in list)
        {
            if (!groups.TryGetValue(t.Name, out var group))
            {
                written.Add(new WrittenTensor(t.Name, t.DType, t.Shape, [t.Name]));
                continue;
            }
            if (!done.Add(group.Fused))
            {
                continue;
            }
            string[] missing = [.. group.Parts.Where(p => !byName.ContainsKey(p))];
            if (missing.Length > 0)
            {
                throw new ArgumentException($"'{group.Fused}' is made of {string.Join(", ", group.Parts)}, but {string.Join(", ", missing)} is missing", nameof(tensors));
            }
            var parts = group.Parts.Select(p => byName[p]).ToList();
            if (parts.Any(p => p.DType != t.DType || p.Shape.Length != 2 || p.Shape[1] != t.Shape[1]))
            {
                throw new ArgumentException($"the parts of '{group.Fused}' differ: {string.Join(", ", parts.Select(p => $"{p.Name} {p.DType} [{string.Join(", ", p.Shape)}]"))}", nameof(tensors));
            }
            written.Add(new WrittenTensor(group.Fused, t.DType, [parts.Sum(p => p.Shape[0]), t.Shape[1]], group.Parts));
        }
        return written;
    }
}
