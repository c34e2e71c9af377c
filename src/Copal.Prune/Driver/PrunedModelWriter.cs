using System.Globalization;
using Copal.Model.ChatTemplates;
using Copal.Model.Config;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.IO;
using Copal.Tensors.Safetensors;

namespace Copal.Prune.Driver;

/// <summary>
/// Writes a pruned model as a complete Hugging Face folder while the driver works: config, tokenizer and generation
/// files copied, weights in their input dtype. The safetensors header is fixed up front (all shapes are known), with
/// each decoder layer's tensors together so a layer can be written as soon as it is pruned and then forgotten; the
/// other tensors follow at the end. Everything lands in a temporary folder moved into place by <see cref="Commit"/>.
/// The tensors are written in the layout the input stores (<see cref="StoredLayout"/>): a Phi-3's q, k and v, read
/// apart, go back into one qkv_proj (gate and up into gate_up_proj), so the output is a Phi-3 as the input was.
/// </summary>
internal sealed class PrunedModelWriter : IDisposable
{
    /// <summary>
    /// Files copied unchanged from the input folder when present: the config, and the files a Hugging Face tokenizer
    /// saves, its chat template among them (transformers 4.50 and later write it to chat_template.jinja rather
    /// than into tokenizer_config.json; processors to chat_template.json). The named templates of an
    /// additional_chat_templates folder travel too (<see cref="ChatTemplateFiles.CopyAdditional"/>).
    /// </summary>
    public static IReadOnlyList<string> SideFiles { get; } =
        ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
         "added_tokens.json", "vocab.json", "merges.txt", ChatTemplateFiles.DefaultFile, "chat_template.json"];

    /// <summary>
    /// The bytes of what the writer copies from <paramref name="inputDirectory"/> beside the weights: its
    /// <see cref="SideFiles"/> and its named chat templates (<see cref="ChatTemplateFiles.CopyAdditional"/>).
    /// </summary>
    public static long SideFileBytes(string inputDirectory) =>
        SideFiles.Sum(f => FileLength.Of(Path.Combine(inputDirectory, f))) + ChatTemplateFiles.AdditionalBytes(inputDirectory);

    private readonly SafetensorsCheckpoint _source;
    private readonly AtomicDirectory _output;
    private readonly SafetensorsWriter _writer;
    private readonly List<List<WrittenTensor>> _layerTensors;
    private readonly List<TensorView> _otherTensors;
    private int _nextLayer;
    private readonly Dictionary<string, NativeTensor> _otherReplacements = [];

    /// <summary>
    /// Claims <paramref name="outDirectory"/> (empty or absent unless <paramref name="overwrite"/>, never the input),
    /// copies the <see cref="SideFiles"/> and writes the header of every tensor of <paramref name="source"/>.
    /// <paramref name="source"/> stays the caller's and must stay open until <see cref="Commit"/>.
    /// </summary>
    /// <param name="inputDirectory">The dense model folder the side files are copied from.</param>
    /// <param name="source">The dense checkpoint: the tensors' shapes, and the bytes of those not replaced.</param>
    /// <param name="outDirectory">The output folder.</param>
    /// <param name="overwrite">Replace a non-empty output folder.</param>
    /// <param name="layers">The model's decoder layers.</param>
    /// <param name="metadata">Entries for the safetensors <c>__metadata__</c>, beside "format": "pt".</param>
    /// <param name="outputName">How messages name the output folder (<see cref="AtomicDirectory.Name"/>).</param>
    /// <param name="alongside">What else the run writes on the output's file system (<see cref="OutputSpace"/>), checked with the model against the free space.</param>
    public PrunedModelWriter(string inputDirectory, SafetensorsCheckpoint source, string outDirectory, bool overwrite, int layers, IReadOnlyDictionary<string, string> metadata,
        string outputName = "--out", IReadOnlyList<OutputSpace>? alongside = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        _source = source;
        _output = AtomicDirectory.CreateNamed(outputName, outDirectory, overwrite, inputDirectory);
        try
        {
            foreach (string name in SideFiles)
            {
                string from = Path.Combine(inputDirectory, name);
                if (File.Exists(from))
                {
                    _output.CopyIn(from, name);
                }
            }
            ChatTemplateFiles.CopyAdditional(inputDirectory, _output);
            _layerTensors = Enumerable.Range(0, layers).Select(_ => new List<WrittenTensor>()).ToList();
            _otherTensors = [];
            var layerViews = new List<(string, DType, long[])>();
            foreach (TensorView t in source.Tensors)
            {
                int layer = LayerOf(t.Name);
                if (layer >= 0 && layer < layers)
                {
                    layerViews.Add((t.Name, t.DType, t.Shape));
                }
                else
                {
                    _otherTensors.Add(t);
                }
            }
            foreach (WrittenTensor t in StoredLayout.For(LlamaConfig.Load(inputDirectory), layerViews))
            {
                _layerTensors[LayerOf(t.Name)].Add(t);
            }
            var specs = _layerTensors.SelectMany(l => l).Select(t => new TensorSpec(t.Name, t.DType, t.Shape))
                .Concat(_otherTensors.Select(t => new TensorSpec(t.Name, t.DType, t.Shape))).ToList();
            var meta = new Dictionary<string, string>(metadata) { ["format"] = "pt" };
            // Before the pruning's minutes, not at the end of them, with what the run will write beside the model.
            long model = specs.Sum(t => t.ByteLength);
            var extras = (alongside ?? []).Select(a => (a.What, Bytes: a.Bytes(specs))).Where(a => a.Bytes > 0).ToList();
            _output.RequireSpace(model + extras.Sum(a => a.Bytes), extras.Count == 0 ? "the pruned model"
                : $"the pruned model ({ByteSize.Format(model)}) with {JoinedWithAnd(extras.Select(a => $"{a.What} ({ByteSize.Format(a.Bytes)})").ToList())}");
            _writer = SafetensorsWriter.Create(_output.File("model.safetensors"), specs, meta, _output.FinalFile("model.safetensors"));
        }
        catch
        {
            _output.Dispose();
            throw;
        }
    }

    /// <summary>The temporary folder (for extra files such as the report).</summary>
    public string TempDirectory => _output.TempPath;

    /// <summary>Where the output will be once committed (links resolved).</summary>
    public string OutDirectory => _output.FinalPath;

    /// <summary>Writes every tensor of <paramref name="layer"/>: replacements where given (same dtype and shape), the input's bytes otherwise.</summary>
    public void WriteLayer(int layer, IReadOnlyDictionary<string, TensorView> replacements)
    {
        if (layer != _nextLayer)
        {
            throw new InvalidOperationException($"layers must be written in order: expected layer {_nextLayer}, got {layer}");
        }
        foreach (WrittenTensor written in _layerTensors[layer])
        {
            // A fused tensor is its parts' bytes one after the other.
            foreach (string part in written.Parts)
            {
                TensorView t = _source[part];
                TensorView data = replacements.TryGetValue(part, out TensorView r) ? r : t;
                if (data.DType != t.DType || !data.Shape.SequenceEqual(t.Shape))
                {
                    throw new InvalidOperationException($"replacement for '{part}' is {data.DType} {data.ShapeString}, expected {t.DType} {t.ShapeString}");
                }
                _writer.Write(written.Name, data);
            }
        }
        _nextLayer++;
    }

    /// <summary>
    /// Replaces one of the tensors outside the decoder layers (embed_tokens, lm_head) in the final write. The writer
    /// owns <paramref name="tensor"/> from now on.
    /// </summary>
    public void ReplaceOther(string name, NativeTensor tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        TensorView original = _otherTensors.FirstOrDefault(t => t.Name == name);
        if (original.Name is null || original.DType != tensor.View.DType || !original.Shape.SequenceEqual(tensor.View.Shape))
        {
            tensor.Dispose();
            throw new InvalidOperationException($"'{name}' is not a tensor outside the decoder layers with dtype {tensor.View.DType} and shape {tensor.View.ShapeString}");
        }
        if (_otherReplacements.Remove(name, out NativeTensor? old))
        {
            old.Dispose();
        }
        _otherReplacements[name] = tensor;
    }

    /// <summary>Writes the remaining tensors (embeddings, final norm, lm_head) and moves the folder into place.</summary>
    public void Commit(Action<string>? writeExtraFiles = null)
    {
        if (_nextLayer != _layerTensors.Count)
        {
            throw new InvalidOperationException($"only {_nextLayer} of {_layerTensors.Count} layers were written");
        }
        foreach (TensorView t in _otherTensors)
        {
            _writer.Write(t.Name, _otherReplacements.TryGetValue(t.Name, out NativeTensor? r) ? r.View : t);
        }
        _writer.Commit();
        writeExtraFiles?.Invoke(_output.TempPath);
        _output.Commit();
    }

    private static int LayerOf(string name)
    {
        const string prefix = "model.layers.";
        if (!name.StartsWith(prefix, StringComparison.Ordinal))
        {
            return -1;
        }
        int dot = name.IndexOf('.', prefix.Length);
        return dot > 0 && int.TryParse(name.AsSpan(prefix.Length, dot - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int layer) ? layer : -1;
    }

    /// <summary>Frees the replacements and, unless committed, deletes the temporary folder, whatever fails on the way.</summary>
    public void Dispose()
    {
        try
        {
            foreach (NativeTensor t in _otherReplacements.Values)
            {
                t.Dispose();
            }
            _writer.Dispose();
        }
        finally
        {
            _output.Dispose();
        }
    }

    /// <summary>"a", "a and b", "a, b and c".</summary>
    private static string JoinedWithAnd(IReadOnlyList<string> items) =>
        items.Count == 1 ? items[0] : $"{string.Join(", ", items.Take(items.Count - 1))} and {items[^1]}";
}
