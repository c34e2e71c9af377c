using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>The end-to-end golden test: the real stories260K checkpoint against its author's published output.</summary>
public sealed class Stories260KTests : IDisposable
{
    // Published greedy continuation from BOS (../shared/data/README.md), BOS included.
    private static readonly int[] s_published =
    [
        1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419, 292,
        411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337,
        335, 312, 432, 398, 312, 286, 267, 414, 270, 333, 415,
    ];

    private readonly CpuBackend _backend = new();
    private readonly LlamaModel _model;
    private readonly CopalTokenizer _tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);

    public Stories260KTests() => _model = LlamaModel.Load(TestData.Stories260K, _backend);

    [Fact]
    public void Greedy_from_BOS_reproduces_the_published_ids()
    {
        GenerationResult r = new Generator(_model).Generate([1], s_published.Length - 1, SamplingOptions.Greedy, new HashSet<int>());
        Assert.Equal(s_published[1..], r.GeneratedIds);
    }

    [Fact]
    public void Greedy_256_steps_reproduce_the_published_text()
    {
        // llama2.c run.c -n 256: 256 forward steps from BOS, each printing the token it samples; BOS ends the story.
        GenerationResult r = new Generator(_model).Generate([1], 256, SamplingOptions.Greedy, new HashSet<int> { 1 });
        string expected = File.ReadAllText(Path.Combine(TestData.Stories260K, "reference_greedy_t0.txt"));
        Assert.Equal(expected.TrimEnd('\n'), _tokenizer.Decode(r.GeneratedIds.ToArray()).TrimEnd('\n'));
    }

    [Fact]
    public void Batched_prefill_and_token_by_token_decode_give_the_same_logits()
    {
        int[] ids = _tokenizer.Encode("Once upon a time, there was a little girl named Lily. She loved to play outside.");
        int vocab = _model.Config.VocabSize;
        using RunState batched = _model.CreateState(ids.Length, allRowLogits: true);
        _model.Forward(batched, ids, 0, LogitsMode.All);
        float[] all = _model.ReadLogits(batched, ids.Length);

        using RunState stepwise = _model.CreateState(1);
        for (int t = 0; t < ids.Length; t++)
        {
            _model.Forward(stepwise, ids.AsSpan(t, 1), t, LogitsMode.Last);
            float[] row = _model.ReadLogits(stepwise);
            Tolerances.AssertClose(row, all.AsSpan(t * vocab, vocab), relative: 0, absolute: Tolerances.LogitsAbsolute, what: $"logits at position {t}");
        }
    }

    [Fact]
    public void Logits_read_into_a_buffer_equal_the_returned_array_and_partial_rows_are_rejected()
    {
        int[] ids = _tokenizer.Encode("One day, a cat");
        int vocab = _model.Config.VocabSize;
        using RunState state = _model.CreateState(ids.Length, allRowLogits: true);
        _model.Forward(state, ids, 0, LogitsMode.All);
        var buffer = new float[2 * vocab];
        _model.ReadLogits(state, buffer);
        Assert.Equal(_model.ReadLogits(state, 2), buffer);
        var e = Assert.Throws<ArgumentException>(() => _model.ReadLogits(state, new float[vocab + 1]));
        Assert.Contains($"whole rows of {vocab}", e.Message);
    }

    [Fact]
    public void Chunked_prefill_equals_one_shot_prefill()
    {
        int[] ids = _tokenizer.Encode("Tom and Sue went to the park. They played on the swings and the slide until the sun went down.");
        using RunState oneShot = _model.CreateState(ids.Length);
        _model.Forward(oneShot, ids, 0, LogitsMode.Last);
        using RunState chunked = _model.CreateState(5);
        _model.Forward(chunked, ids, 0, LogitsMode.Last);
        Tolerances.AssertClose(_model.ReadLogits(chunked), _model.ReadLogits(oneShot), relative: 0, absolute: Tolerances.LogitsAbsolute, what: "last logits");
    }

    [Fact]
    public void Weights_read_into_memory_and_mapped_give_the_same_logits()
    {
        // The fixture's model loads with the default: mapped.
        Assert.Equal(WeightResidence.Mapped, _model.WeightResidence);
        using LlamaModel copy = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Off, residence: WeightResidence.Memory);
        Assert.Equal(WeightResidence.Memory, copy.WeightResidence);
        using LlamaModel auto = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Off, residence: WeightResidence.Auto);
        Assert.Equal(WeightResidence.Memory, auto.WeightResidence); // 1 MB: well under half of any machine's memory
        int[] ids = _tokenizer.Encode("Once upon a time, there was a little girl named Lily.");
        // In memory the CPU holds the weights in panels where Vector512 is hardware (PanelPacking): each output is
        // then summed in another order than over the mapped rows, so the logits agree within the policy, not bit
        // for bit; so does the greedy choice at every position.
        float[] mapped = Logits(_model, ids), inMemory = Logits(copy, ids);
        Tolerances.AssertClose(inMemory, mapped, relative: 0, absolute: Tolerances.LogitsAbsolute, what: "logits, in memory against mapped");
        int vocab = _model.Config.VocabSize;
        for (int t = 0; t < ids.Length; t++)
        {
            Assert.Equal(ArgMax(mapped.AsSpan(t * vocab, vocab)), ArgMax(inMemory.AsSpan(t * vocab, vocab)));
        }
    }

    [Fact]
    public void A_model_read_into_memory_no_longer_reads_its_files()
    {
        // The CPU's copies replace the mapping, which is closed after the load: overwriting the file afterwards
        // changes nothing (a kernel still reading the mapping would see the zeros).
        string folder = Path.Combine(Path.GetTempPath(), $"copal-test-{Guid.NewGuid():N}");
        try
        {
            TestData.CopyOfStories260K(folder);
            int[] ids = _tokenizer.Encode("Once upon a time");
            using LlamaModel copy = LlamaModel.Load(folder, _backend, SparseLoadMode.Off, residence: WeightResidence.Memory);
            float[] before = Logits(copy, ids);
            string weights = Path.Combine(folder, "model.safetensors");
            long length = new FileInfo(weights).Length;
            using (FileStream stream = new(weights, FileMode.Open, FileAccess.Write))
            {
                stream.Write(new byte[length]);
            }
            Assert.Equal(before, Logits(copy, ids));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static int ArgMax(ReadOnlySpan<float> values) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(values);

    private static float[] Logits(LlamaModel model, int[] ids)
    {
        using RunState state = model.CreateState(ids.Length, ids.Length, allRowLogits: true);
        model.Forward(state, ids, 0, LogitsMode.All);
        return model.ReadLogits(state, ids.Length);
    }

    [Fact]
    public void Token_outside_the_vocabulary_is_rejected()
    {
        using RunState state = _model.CreateState(4);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.Forward(state, [1, 512], 0, LogitsMode.Last));
        Assert.Contains("token id 512 is outside the vocabulary [0, 512)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Prompt_longer_than_the_context_is_rejected()
    {
        int[] prompt = Enumerable.Repeat(300, 513).ToArray();
        var e = Assert.Throws<ArgumentException>(() => new Generator(_model).Generate(prompt, 1, SamplingOptions.Greedy, new HashSet<int>()));
        Assert.Contains("513 tokens, more than the model's context of 512", e.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
    }
}
