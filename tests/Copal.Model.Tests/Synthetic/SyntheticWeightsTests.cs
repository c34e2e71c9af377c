using Copal.Model.Config;
using Copal.Model.Generation;
using Copal.Model.Synthetic;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Model.Tests.Synthetic;

/// <summary>The weights synth draws, and the configs it refuses before drawing any.</summary>
public sealed class SyntheticWeightsTests : IDisposable
{
    private readonly TempDir _temp = new("copal-synth-weights-");

    public void Dispose() => _temp.Dispose();

    /// <summary>
    /// The writer fills chunks of each tensor in parallel from generators moved ahead to each chunk's first draw; the
    /// bytes must be those of one sequential Box–Muller pass over the seeded stream, each tensor continuing where the
    /// one before stopped (two draws per pair of values, the last pair of an odd tensor drawn whole). A hidden size of
    /// 15 and a vocabulary of 33 give the embedding and lm_head an odd count, so the tensor after each starts past a
    /// half-used pair; the norms (ones) draw nothing. Two tensors of one shape must not repeat each other's values.
    /// </summary>
    [Fact]
    public void The_weights_are_one_sequential_box_muller_pass_over_the_seeded_stream()
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { HiddenSize = 15, HeadDim = 16, VocabSize = 33, TieWordEmbeddings = false };
        string dir = _temp.File("m");
        const ulong seed = 29;
        SyntheticModelWriter.Write(config, dir, DType.F32, seed, tokenizerDirectory: null);

        var stream = new Pcg32(seed);
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        int drawnTensors = 0;
        foreach ((TensorSpec spec, bool isNorm) in CheckpointLayout.Of(config, DType.F32))
        {
            ReadOnlySpan<float> stored = checkpoint[spec.Name].AsSpan<float>();
            if (isNorm)
            {
                Assert.All(stored.ToArray(), v => Assert.Equal(1f, v));
                continue;
            }
            float[] expected = new float[stored.Length];
            for (int i = 0; i < expected.Length; i += 2)
            {
                double u1 = (stream.NextUInt() + 1.0) / 4294967297.0;
                double u2 = stream.NextUInt() / 4294967296.0;
                double r = Math.Sqrt(-2 * Math.Log(u1)) * 0.02;
                expected[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
                if (i + 1 < expected.Length)
                {
                    expected[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
                }
            }
            Assert.True(expected.AsSpan().SequenceEqual(stored), $"tensor '{spec.Name}' is not the stream's next {expected.Length} values");
            drawnTensors++;
        }
        Assert.True(drawnTensors > 2, $"{drawnTensors} drawn tensors");
    }

    /// <summary>
    /// transformers' generate stops at generation_config.json's eos_token_id, not config.json's: a model with several
    /// end ids (Llama 3: end of text, end of message, end of turn) wrote only the first there, so generate on a
    /// synthetic Llama 3 ran past the end of a turn. The file repeats config.json's bos and every eos.
    /// </summary>
    [Fact]
    public void Generation_config_repeats_the_configs_bos_and_every_eos()
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { VocabSize = 64, BosTokenId = 5, EosTokenIds = [7, 9, 11] };
        string dir = _temp.File("g");
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 3, tokenizerDirectory: null);

        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "generation_config.json")));
        Assert.Equal(5, doc.RootElement.GetProperty("bos_token_id").GetInt32());
        Assert.Equal([7, 9, 11], doc.RootElement.GetProperty("eos_token_id").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([7, 9, 11], GenerationConfig.EosTokenIds(dir, config.VocabSize));

        LlamaConfig single = config with { EosTokenIds = [7] };
        string one = _temp.File("one");
        SyntheticModelWriter.Write(single, one, DType.F32, seed: 3, tokenizerDirectory: null);
        using var oneDoc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(one, "generation_config.json")));
        Assert.Equal(7, oneDoc.RootElement.GetProperty("eos_token_id").GetInt32());
    }

    /// <summary>
    /// A config without bos_token_id or eos_token_id gets none in generation_config.json: Llama 2's 1 and 2 were written,
    /// and a model of another tokenizer then stopped at whatever token has id 2. Given generation ids take the config's place.
    /// </summary>
    [Fact]
    public void Generation_config_invents_no_ids_and_takes_the_given_generation_ids()
    {
        LlamaConfig bare = SyntheticPresets.Get("test-tiny") with { VocabSize = 64, BosTokenId = null, EosTokenIds = [] };
        string dir = _temp.File("bare");
        SyntheticModelWriter.Write(bare, dir, DType.F32, seed: 3, tokenizerDirectory: null);
        Assert.Equal("{}\n", File.ReadAllText(Path.Combine(dir, "generation_config.json")));

        string given = _temp.File("given");
        SyntheticModelWriter.Write(bare with { EosTokenIds = [7] }, given, DType.F32, seed: 3, tokenizerDirectory: null, generationEosTokenIds: [7, 9]);
        Assert.Equal([7, 9], GenerationConfig.EosTokenIds(given, bare.VocabSize));
    }

    /// <summary>
    /// A layer tensor's header entry takes more than 80 bytes, so a config whose tensors times 80 pass the safetensors
    /// header limit is refused by its sizes alone, naming the layer count, before any list of that many is made.
    /// </summary>
    [Fact]
    public void A_layer_count_whose_header_entries_pass_the_limit_is_refused_by_the_config()
    {
        LlamaConfig tiny = SyntheticPresets.Get("test-tiny");
        int perLayer = CheckpointLayout.Layer(tiny, 0, DType.F32).Count;
        // Just past the limit at 80 bytes a tensor: far below it at any smaller size per entry.
        int layers = (int)((SafetensorsWriter.MaxHeaderBytes / 80 / perLayer) + 1);
        var e = Assert.Throws<ModelConfigException>(() => SyntheticModelWriter.RequireWritable(tiny with { NumLayers = layers }, DType.F32, "tiny.json"));
        Assert.Contains($"num_hidden_layers {layers} makes", e.Message, StringComparison.Ordinal);
    }
}
