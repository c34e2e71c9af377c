using System.Globalization;
using Copal.Model.Config;

namespace Copal.Model.Weights;

/// <summary>
/// The checkpoint's decoder layers against config.json's num_hidden_layers, checked when the checkpoint opens, before
/// anything loops over the config's layers. More layers would be ignored without a word, running a different model
/// than the files hold; fewer would be missing tensors, and a config that claims 2^31 layers would first have every
/// per-layer loop run that long. Both are refused naming the last layer the files hold.
/// </summary>
internal static class LayerCount
{
    private const string Prefix = "model.layers.";

    /// <exception cref="ModelLoadException">A tensor belongs to a layer at or beyond num_hidden_layers, or no tensor to its last layer.</exception>
    public static void Require(IEnumerable<string> tensorNames, LlamaConfig config, string source)
    {
        ArgumentNullException.ThrowIfNull(tensorNames);
        ArgumentNullException.ThrowIfNull(config);
        int highest = -1;
        string? example = null;
        foreach (string name in tensorNames)
        {
            if (Layer(name) is int layer && layer > highest)
            {
                highest = layer;
                example = name;
            }
        }
        if (highest >= config.NumLayers)
        {
            throw new ModelLoadException(
                $"{source}: the checkpoint has layer {highest} ('{example}'), but config.json says num_hidden_layers {config.NumLayers}; " +
                $"expected {highest + 1}, or the layers beyond the config would be ignored");
        }
        if (highest < 0 && config.NumLayers > 0 && UnderAnotherPrefix(tensorNames) is (string stored, string expected))
        {
            throw new ModelLoadException(
                $"{source}: config.json says num_hidden_layers {config.NumLayers}, but the checkpoint has no decoder layer named '{Prefix}<i>.…': " +
                $"it holds '{stored}', a layer under another prefix (expected LlamaForCausalLM's names, as '{expected}')");
        }
        if (highest + 1 < config.NumLayers)
        {
            throw new ModelLoadException(highest < 0
                ? $"{source}: config.json says num_hidden_layers {config.NumLayers}, but the checkpoint has no decoder layer (no tensor named '{Prefix}<i>.…')"
                : $"{source}: config.json says num_hidden_layers {config.NumLayers}, but the checkpoint's last layer is {highest} ('{example}'); expected {highest + 1}, or the files lack layers {highest + 1} and on");
        }
    }

    /// <summary>
    /// The first tensor that is a decoder layer's under a prefix other than <c>model.</c> (a bare LlamaModel's
    /// <c>layers.0.…</c>, a multimodal export's <c>language_model.model.layers.0.…</c>), with the name it would have.
    /// </summary>
    private static (string Stored, string Expected)? UnderAnotherPrefix(IEnumerable<string> tensorNames)
    {
        const string layers = "layers.";
        foreach (string name in tensorNames)
        {
            int at = name.StartsWith(layers, StringComparison.Ordinal) ? 0
                : name.IndexOf("." + layers, StringComparison.Ordinal) is int dot and >= 0 ? dot + 1 : -1;
            if (at >= 0 && Layer("model." + name[at..]) is not null)
            {
                return (name, "model." + name[at..]);
            }
        }
        return null;
    }

    private static int? Layer(string name)
    {
        if (!name.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }
        int end = name.IndexOf('.', Prefix.Length);
        return end > Prefix.Length && int.TryParse(name.AsSpan(Prefix.Length, end - Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int layer)
            ? layer : null;
    }
}
