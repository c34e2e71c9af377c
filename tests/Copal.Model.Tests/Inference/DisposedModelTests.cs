using Copal.Model.Chat;
using Copal.Model.Evaluation;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// A model used after Dispose: its weights are freed or unmapped, so each entry point must refuse with an
/// <see cref="ObjectDisposedException"/> naming the model, not read the freed memory (an access violation, which
/// takes the whole process down and no caller can catch).
/// </summary>
public sealed class DisposedModelTests : IDisposable
{
    private readonly CpuBackend _backend = new();

    public void Dispose() => _backend.Dispose();

    private static void AssertNamesModel(ObjectDisposedException e) =>
        Assert.Equal(typeof(LlamaModel).FullName, e.ObjectName);

    [Theory]
    [InlineData(WeightResidence.Mapped)]
    [InlineData(WeightResidence.Memory)]
    public void Generating_with_a_disposed_model_throws_ObjectDisposedException(WeightResidence residence)
    {
        LlamaModel model = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Off, residence: residence);
        model.Dispose();
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() =>
            new Generator(model).Generate([1, 403, 407], 4, SamplingOptions.Greedy, new HashSet<int>())));
    }

    [Theory]
    [InlineData(WeightResidence.Mapped)]
    [InlineData(WeightResidence.Memory)]
    public void Every_entry_point_of_a_disposed_model_throws_and_Dispose_again_is_harmless(WeightResidence residence)
    {
        LlamaModel model = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Off, residence: residence);
        // A state made before Dispose still holds its own buffers: only the model's weights and tables are gone.
        using RunState state = model.CreateState(4);
        using RunState layerState = model.CreateLayerState(4);
        using RunState batch = model.CreateState(2, 8, allRowLogits: true);
        using DeviceBuffer hidden = _backend.Allocate(4L * model.Config.HiddenSize);
        model.Forward(state, [1, 403], 0, LogitsMode.Last);
        model.Dispose();
        model.Dispose();

        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => model.CreateState(4)));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => model.CreateLayerState(4)));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => model.Forward(state, [407], 2, LogitsMode.Last)));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => model.ReadLogits(state)));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => model.ReadLogits(state, new float[model.Config.VocabSize])));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => model.Embed([1, 2], hidden)));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => model.ForwardLayer(layerState, 0, hidden, 2, 0)));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => model.Head(state, hidden, 1)));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => model.ForwardBatch(batch, [state], [407], [2])));
    }

    /// <summary>
    /// What is built over a disposed model refuses at once, naming the model, as its calls do: an engine or a
    /// generator that took it would be made, then fail every request it is given. Perplexity refuses before any work,
    /// for the base model too.
    /// </summary>
    [Fact]
    public void A_disposed_model_is_refused_where_it_is_given()
    {
        var tokenizer = CopalTokenizer.FromDirectory(TestData.Stories260K);
        LlamaModel model = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Off);
        using LlamaModel live = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Off);
        model.Dispose();
        int[] text = [.. Enumerable.Range(0, 64).Select(i => 1 + i % 400)];

        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => new InferenceEngine(model, tokenizer)));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => new InferenceEngine(model, tokenizer, ownsModel: true)));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => new Generator(model)));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => PerplexityEvaluator.Evaluate(model, text, new PerplexityOptions(32))));
        AssertNamesModel(Assert.Throws<ObjectDisposedException>(() => PerplexityEvaluator.Evaluate(live, text, new PerplexityOptions(32), baseModel: model)));
    }

    /// <summary>A chat client over a disposed engine refuses at once, naming the engine, as its requests would.</summary>
    [Fact]
    public void A_chat_client_over_a_disposed_engine_is_refused()
    {
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Off);
        var engine = new InferenceEngine(model, CopalTokenizer.FromDirectory(TestData.Stories260K));
        engine.Dispose();
        ObjectDisposedException e = Assert.Throws<ObjectDisposedException>(() => new CopalChatClient(engine));
        Assert.Equal(typeof(InferenceEngine).FullName, e.ObjectName);
    }

    /// <summary>
    /// Weights reached past the model (model.Weights, held by a caller) are refused by the backend: a CPU weight
    /// checks once per op that it is alive, as a CPU buffer does.
    /// </summary>
    [Theory]
    [InlineData(WeightResidence.Mapped)]
    [InlineData(WeightResidence.Memory)]
    public void A_disposed_weight_is_refused_by_the_cpu_backend(WeightResidence residence)
    {
        LlamaModel model = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Off, residence: residence);
        LlamaWeights weights = model.Weights;
        int hiddenSize = model.Config.HiddenSize;
        using DeviceBuffer x = _backend.Allocate(hiddenSize);
        using DeviceBuffer y = _backend.Allocate(model.Config.VocabSize);
        model.Dispose();

        DeviceWeight q = weights.Layers[0][LinearId.QProj];
        ObjectDisposedException e = Assert.Throws<ObjectDisposedException>(() => _backend.MatMul(x, q, y, 1));
        Assert.Equal(q.GetType().FullName, e.ObjectName);
        e = Assert.Throws<ObjectDisposedException>(() => _backend.Embedding(weights.Embedding, [1], x));
        Assert.Equal(weights.Embedding.GetType().FullName, e.ObjectName);
        Assert.Throws<ObjectDisposedException>(() => ((CpuWeight)weights.Embedding).Matrix);
    }
}
