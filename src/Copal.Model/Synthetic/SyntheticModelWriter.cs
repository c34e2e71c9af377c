using Copal.Model.ChatTemplates;
using Copal.Model.Config;
using Copal.Model.Generation;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.IO;
using Copal.Tensors.Numerics;
using Copal.Tensors.Safetensors;

namespace Copal.Model.Synthetic;

/// <summary>
/// Writes a LLaMA model folder with random weights in real shapes: linears and embeddings ~ N(0, 0.02²) as HF
/// initializes them, norms = 1 (on Gemma, which stores offsets from 1, 0). Streams tensor by tensor, so a 7B model never sits in memory. Seeded: the same
/// seed gives the same bytes.
/// </summary>
internal static class SyntheticModelWriter
{
    private const double InitStd = 0.02;
    private const int ChunkElements = 1 << 20;

    /// <summary>
    /// The config <see cref="Write"/> writes for <paramref name="config"/> in <paramref name="dtype"/>: its dtype is the
    /// weights', which a Gemma 3's embedding scale is rounded to, so describing the config given would show another scale.
    /// </summary>
    public static LlamaConfig AsWritten(LlamaConfig config, DType dtype)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config with { TorchDtype = TorchDtypeName(dtype) };
    }

    // The files of a tokenizer folder the model takes (Write copies them in).
    private static readonly string[] TokenizerFiles = ["tokenizer.json", "tokenizer_config.json", ChatTemplateFile.Name];

    private static string TorchDtypeName(DType dtype) => dtype switch { DType.F32 => "float32", DType.F16 => "float16", _ => "bfloat16" };

    /// <summary>
    /// Writes config.json, generation_config.json, model.safetensors and (if given) the tokenizer files (tokenizer.json, tokenizer_config.json, chat_template.jinja) into
    /// <paramref name="outDirectory"/>. <paramref name="configSource"/> names the config in the message that refuses
    /// sizes no file can hold (<see cref="RequireWritable"/>): the file or preset the user gave.
    /// <paramref name="generationEosTokenIds"/>, where not empty, are generation_config.json's end ids in place of the
    /// config's (the source model's own generation_config.json, when its folder is copied).
    /// </summary>
    public static void Write(
        LlamaConfig config,
        string outDirectory,
        DType dtype,
        ulong seed,
        string? tokenizerDirectory,
        bool overwrite = false,
        IProgress<string>? progress = null,
        string configSource = "config",
        IReadOnlyList<int>? generationEosTokenIds = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!dtype.IsWeightFloat())
        {
            throw new ArgumentException($"dtype must be F32, F16 or BF16, got {dtype}", nameof(dtype));
        }
        long weightBytes = RequireWritable(config, dtype, configSource);
        using var output = AtomicDirectory.Create(outDirectory, overwrite, tokenizerDirectory is null ? [] : [tokenizerDirectory]);
        // The tokenizer's files are copied in before the weights are generated, so they count with them: a check of
        // the weights alone passed where the copies then left too little room for the weights.
        long copies = tokenizerDirectory is null ? 0
            : TokenizerFiles.Sum(name => FileLength.Of(Path.Combine(tokenizerDirectory, name))) + ChatTemplateFiles.AdditionalBytes(tokenizerDirectory);
        string model = FormattableString.Invariant($"the model ({config.NumLayers} layers, {dtype})");
        output.RequireSpace(weightBytes + copies, copies == 0 ? model : $"{model} with the tokenizer's files ({ByteSize.Format(copies)})");
        output.WriteText("config.json", LlamaConfigWriter.ToJson(config, TorchDtypeName(dtype)));
        output.WriteText(GenerationConfig.FileName, GenerationConfigJson(config, generationEosTokenIds));
        if (tokenizerDirectory is not null)
        {
            // chat_template.jinja with them: a tokenizer saved by transformers 4.50 and later keeps its chat template
            // there rather than in tokenizer_config.json, and the model would have none without it.
            foreach (string name in TokenizerFiles)
            {
                string src = Path.Combine(tokenizerDirectory, name);
                if (File.Exists(src))
                {
                    output.CopyIn(src, name);
                }
                else if (name == "tokenizer.json")
                {
                    throw new FileNotFoundException($"tokenizerDirectory '{tokenizerDirectory}' has no tokenizer.json", src);
                }
            }
            ChatTemplateFiles.CopyAdditional(tokenizerDirectory, output);
        }

        List<(TensorSpec Spec, bool IsNorm)> tensors = CheckpointLayout.Of(config, dtype);
        using (SafetensorsWriter writer = SafetensorsWriter.Create(output.File("model.safetensors"), tensors.Select(t => t.Spec).ToList(),
                   new Dictionary<string, string> { ["format"] = "pt", ["copal.synthetic.seed"] = seed.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                   output.FinalFile("model.safetensors")))
        {
            // One seeded stream for the whole model, as it was drawn in one pass; its pieces are filled in parallel
            // from generators moved ahead to each piece's first draw (Pcg32.Ahead), so the bytes stay the same.
            var stream = new Pcg32(seed);
            ulong drawn = 0;
            int workers = Math.Max(1, Environment.ProcessorCount);
            var values = new float[workers][];
            var bytes = new byte[workers][];
            for (int t = 0; t < tensors.Count; t++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                (TensorSpec spec, bool isNorm) = tensors[t];
                progress?.Report($"[{t + 1}/{tensors.Count}] {spec.Name}");
                long count = spec.Shape.Aggregate(1L, (a, b) => a * b);
                long chunks = (count + ChunkElements - 1) / ChunkElements;
                for (long first = 0; first < chunks; first += workers)
                {
                    int batch = (int)Math.Min(workers, chunks - first);
                    Parallel.For(0, batch, new ParallelOptions { CancellationToken = cancellationToken }, b =>
                    {
                        long done = (first + b) * ChunkElements;
                        int n = (int)Math.Min(ChunkElements, count - done);
                        Span<float> chunk = (values[b] ??= new float[ChunkElements]).AsSpan(0, n);
                        if (isNorm)
                        {
                            // Gemma stores a norm as its offset from 1: 0 is the same unit norm.
                            chunk.Fill(config.NormWeightOffsets ? 0f : 1f);
                        }
                        else
                        {
                            // Every chunk but a tensor's last is even, and Box–Muller draws two per pair of values.
                            FillNormal(stream.Ahead(drawn + (ulong)done), chunk, InitStd);
                        }
                        WeightEncoding.Encode(chunk, dtype, (bytes[b] ??= new byte[ChunkElements * dtype.SizeOf()]).AsSpan(0, n * dtype.SizeOf()));
                    });
                    for (int b = 0; b < batch; b++)
                    {
                        long done = (first + b) * ChunkElements;
                        int n = (int)Math.Min(ChunkElements, count - done);
                        writer.Write(spec.Name, bytes[b].AsSpan(0, n * dtype.SizeOf()));
                    }
                }
                if (!isNorm)
                {
                    drawn += 2 * (ulong)((count + 1) / 2);
                }
            }
            // The last points a cancellation can still leave no output: the file's flush takes a while on a big model.
            cancellationToken.ThrowIfCancellationRequested();
            writer.Commit();
        }
        cancellationToken.ThrowIfCancellationRequested();
        output.Commit();
    }

    /// <summary>
    /// Bytes of the weights <paramref name="c"/> describes, from one layer's tensors times the layers, before anything
    /// is laid out: synth's sizes come from the config alone, so one that claims 2^31 layers, or a hidden size of 2^31,
    /// is refused here (or by the free space, <see cref="AtomicDirectory.RequireSpace"/>) rather than by an
    /// out-of-memory error or a full disk. Safetensors readers take a header of at most 100 MB, and a layer tensor's
    /// entry takes more than 80 bytes of it (the shortest, layer 0's up_proj in F32 [1, 1], takes 86), so
    /// the count is checked before any list of that many is made.
    /// </summary>
    /// <exception cref="ModelConfigException">The layers would make more tensors than one file's header can list (named after <paramref name="source"/>).</exception>
    internal static long RequireWritable(LlamaConfig c, DType dtype, string source)
    {
        ArgumentNullException.ThrowIfNull(c);
        List<(TensorSpec Spec, bool IsNorm)> layer = CheckpointLayout.Layer(c, 0, dtype), outside = CheckpointLayout.Of(c with { NumLayers = 0 }, dtype);
        long tensors = outside.Count + ((long)layer.Count * c.NumLayers);
        if (tensors * 80 > SafetensorsWriter.MaxHeaderBytes)
        {
            throw new ModelConfigException(source, FormattableString.Invariant(
                $"num_hidden_layers {c.NumLayers} makes {tensors} tensors, more than one safetensors file's header (at most {SafetensorsWriter.MaxHeaderBytes} bytes) can list"));
        }
        try
        {
            return checked(outside.Sum(t => t.Spec.ByteLength) + (layer.Sum(t => t.Spec.ByteLength) * c.NumLayers));
        }
        catch (OverflowException)
        {
            return long.MaxValue;
        }
    }

    /// <summary>
    /// generation_config.json: config.json's bos_token_id, and as eos_token_id the source model's own generation ids
    /// where given (<c>synth --config</c> of a model folder: an instruct model lists its end of turn there), else every
    /// end id of the config (one as a number, several as a list, as config.json has them). transformers' generate stops
    /// at this file's ids, not config.json's, so writing only the first left a Llama 3's end of turn (its third id) out.
    /// A field the config lacks is left out: an invented id (Llama 2's bos 1 and eos 2) would stop a model of another
    /// tokenizer at whatever token has that id.
    /// </summary>
    private static string GenerationConfigJson(LlamaConfig config, IReadOnlyList<int>? generationEos)
    {
        IReadOnlyList<int> eos = generationEos is { Count: > 0 } ? generationEos : config.EosTokenIds;
        var fields = new List<string>();
        if (config.BosTokenId is int bos)
        {
            fields.Add(FormattableString.Invariant($"  \"bos_token_id\": {bos}"));
        }
        if (eos.Count > 0)
        {
            string ids = string.Join(", ", eos.Select(id => id.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            fields.Add($"  \"eos_token_id\": {(eos.Count == 1 ? ids : "[" + ids + "]")}");
        }
        return fields.Count == 0 ? "{}\n" : "{\n" + string.Join(",\n", fields) + "\n}\n";
    }

    // Box–Muller on the seeded PCG stream: deterministic across runtimes.
    private static void FillNormal(Pcg32 rng, Span<float> values, double std)
    {
        for (int i = 0; i < values.Length; i += 2)
        {
            double u1 = (rng.NextUInt() + 1.0) / 4294967297.0;
            double u2 = rng.NextUInt() / 4294967296.0;
            double r = Math.Sqrt(-2 * Math.Log(u1)) * std;
            values[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < values.Length)
            {
                values[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
            }
        }
    }
}
