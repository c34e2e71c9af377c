using Copal.Model.Config;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Kernels;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// Memory follows the work, not the config: a model whose config claims a huge context allocates its KV cache and RoPE
/// tables for the positions a run uses, and computes exactly what the same model with a short context does.
/// </summary>
public sealed class ContextSizingTests : IDisposable
{
    private readonly TempDir _temp = new("copal-ctx-");
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        _temp.Dispose();
    }

    private string Write(int maxPositions)
    {
        string dir = _temp.File($"ctx-{maxPositions}");
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { MaxPositionEmbeddings = maxPositions };
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 7, tokenizerDirectory: null);
        return dir;
    }

    [Fact]
    public void A_context_of_int_max_positions_generates_what_a_short_context_does()
    {
        int[] prompt = [1, 17, 4242, 9];
        using LlamaModel huge = LlamaModel.Load(Write(int.MaxValue), _backend);
        using LlamaModel small = LlamaModel.Load(Write(256), _backend);
        GenerationResult a = new Generator(huge).Generate(prompt, 5, SamplingOptions.Greedy, new HashSet<int>());
        GenerationResult b = new Generator(small).Generate(prompt, 5, SamplingOptions.Greedy, new HashSet<int>());
        Assert.Equal(5, a.GeneratedIds.Count);
        Assert.Equal(b.GeneratedIds, a.GeneratedIds);

        // The cache and the tables hold the prompt plus the tokens asked for, not 2^31 − 1 positions.
        LlamaConfig c = huge.Config;
        Assert.Equal(prompt.Length + 5, a.ContextSize);
        Assert.Equal(2L * c.NumLayers * (prompt.Length + 5) * c.KvDim * sizeof(float), a.KvCacheBytes);
        Assert.Equal(prompt.Length + 5, huge.RopePositions);
        Assert.Equal(2L * (prompt.Length + 5) * (c.HeadDim / 2) * sizeof(float), huge.RopeTableBytes);
    }

    /// <summary>The estimate a run is refused with (bench) is what a state grown to all its positions allocates.</summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void The_estimate_of_a_state_is_what_it_allocates_when_grown(bool allRowLogits, bool slidingWindow)
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { MaxPositionEmbeddings = 1024 };
        if (slidingWindow)
        {
            config = config with { SlidingWindow = 40, SlidingWindowLayers = [0] };
        }
        const int Rows = 8, Positions = 300;
        using var state = new RunState(_backend, config, Rows, Positions, allRowLogits, reservedPositions: 16);
        state.EnsurePositions(Positions);
        DeviceBuffer[] buffers = [state.Hidden, state.Normed, state.Q, state.K, state.V, state.AttentionOut, state.Projected, state.Gate, state.Up, state.Logits, .. state.KCache, .. state.VCache];
        long allocated = buffers.Distinct().Sum(b => b.Length) * sizeof(float);
        Assert.Equal(allocated, RunState.EstimateBytes(config, Rows, Positions, allRowLogits));
    }

    [Fact]
    public void Generating_until_cancelled_or_end_of_text_holds_what_was_generated_not_max_new_tokens()
    {
        int[] prompt = [1, 17, 4242, 9];
        using LlamaModel model = LlamaModel.Load(Write(1 << 16), _backend);

        // int.MaxValue new tokens ("until end of text"), cancelled after 30: the cache and the RoPE tables were
        // reserved for the prompt and the first 256 new tokens, not for the 65,536 positions the bound allows.
        var ids = new List<int>();
        using (var cts = new CancellationTokenSource())
        {
            Assert.Throws<OperationCanceledException>(() => new Generator(model).Generate(prompt, int.MaxValue, SamplingOptions.Greedy, new HashSet<int>(),
                id => { ids.Add(id); if (ids.Count == 30) { cts.Cancel(); } }, cts.Token));
        }
        Assert.Equal(30, ids.Count);
        Assert.Equal(prompt.Length + Generator.InitialNewTokens, model.RopePositions);

        // Past the reserve the cache and the tables grow (doubling), and the text is what a run sized for it gives.
        const int Long = Generator.InitialNewTokens + 44;
        ids.Clear();
        using (var later = new CancellationTokenSource())
        {
            Assert.Throws<OperationCanceledException>(() => new Generator(model).Generate(prompt, int.MaxValue, SamplingOptions.Greedy, new HashSet<int>(),
                id => { ids.Add(id); if (ids.Count == Long) { later.Cancel(); } }, later.Token));
        }
        using LlamaModel exact = LlamaModel.Load(Write(prompt.Length + Long), _backend);
        GenerationResult sized = new Generator(exact).Generate(prompt, Long, SamplingOptions.Greedy, new HashSet<int>());
        Assert.Equal(sized.GeneratedIds, ids);
        Assert.Equal(2 * (prompt.Length + Generator.InitialNewTokens), model.RopePositions);
    }

    [Fact]
    public void A_context_size_caps_generation_and_the_cache()
    {
        using LlamaModel model = LlamaModel.Load(Write(1 << 24), _backend);
        GenerationResult r = new Generator(model) { ContextSize = 10 }.Generate([1, 2, 3], 100, SamplingOptions.Greedy, new HashSet<int>());
        Assert.Equal(StopReason.ContextFull, r.StopReason);
        Assert.Equal(7, r.GeneratedIds.Count);
        Assert.Equal(2L * model.Config.NumLayers * 10 * model.Config.KvDim * sizeof(float), r.KvCacheBytes);
        GenerationResult few = new Generator(model) { ContextSize = 1000 }.Generate([1, 2, 3], 5, SamplingOptions.Greedy, new HashSet<int>());
        Assert.Equal((StopReason.MaxTokens, 8), (few.StopReason, few.ContextSize));
        Assert.Equal(2L * model.Config.NumLayers * 8 * model.Config.KvDim * sizeof(float), few.KvCacheBytes);
        Assert.Throws<ArgumentException>(() => new Generator(model) { ContextSize = 2 }.Generate([1, 2, 3], 1, SamplingOptions.Greedy, new HashSet<int>()));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Generator(model) { ContextSize = (1 << 24) + 1 }.Generate([1], 1, SamplingOptions.Greedy, new HashSet<int>()));
    }

    /// <summary>
    /// A prompt as long as the context fits (only a longer one is refused): its prefill's logits choose one token,
    /// which needs no position of its own, and then the context is full.
    /// </summary>
    [Fact]
    public void A_prompt_that_fills_the_context_fits_and_gives_the_token_its_prefill_chose()
    {
        using LlamaModel model = LlamaModel.Load(Write(1 << 24), _backend);
        GenerationResult r = new Generator(model) { ContextSize = 3 }.Generate([1, 2, 3], 100, SamplingOptions.Greedy, new HashSet<int>());
        Assert.Equal(StopReason.ContextFull, r.StopReason);
        Assert.Single(r.GeneratedIds);
        Assert.Equal(3, r.ContextSize);
    }

    [Fact]
    public void The_KV_cache_grows_geometrically_and_keeps_its_entries()
    {
        using LlamaModel model = LlamaModel.Load(Write(1 << 20), _backend);
        int[] ids = [1, 300, 301, 302, 7, 8, 9, 10, 11, 12, 13];
        using RunState exact = model.CreateState(1, ids.Length);
        Assert.Equal(ids.Length, exact.KvCapacity);
        using RunState growing = model.CreateState(1);
        Assert.Equal(1 << 20, growing.MaxPositions);
        var capacities = new List<int>();
        for (int t = 0; t < ids.Length; t++)
        {
            // The same steps on a cache reallocated along the way give the same bits as on one allocated whole.
            model.Forward(exact, ids.AsSpan(t, 1), t, LogitsMode.Last);
            model.Forward(growing, ids.AsSpan(t, 1), t, LogitsMode.Last);
            capacities.Add(growing.KvCapacity);
            Assert.Equal(model.ReadLogits(exact), model.ReadLogits(growing));
        }
        Assert.Equal([1, 2, 4, 4, 8, 8, 8, 8, 16, 16, 16], capacities);
        Assert.Equal(2L * model.Config.NumLayers * 16 * model.Config.KvDim * sizeof(float), growing.KvCacheBytes);
    }

    [Fact]
    public void A_layer_state_holds_one_layers_cache_and_runs_layers_one_at_a_time_like_a_full_state()
    {
        using LlamaModel model = LlamaModel.Load(Write(256), _backend);
        LlamaConfig c = model.Config;
        const int Rows = 6;
        using RunState full = model.CreateState(Rows, Rows);
        using RunState layer = model.CreateLayerState(Rows);
        Assert.Equal(2L * Rows * c.KvDim * sizeof(float), layer.KvCacheBytes);
        Assert.Equal(2L * c.NumLayers * Rows * c.KvDim * sizeof(float), full.KvCacheBytes);

        // Every layer in turn over the same window from position 0, as the pruning driver runs them.
        float[] RunLayers(RunState state)
        {
            using var hidden = _backend.Allocate((long)Rows * c.HiddenSize);
            model.Embed([1, 17, 4242, 9, 3, 5], hidden);
            for (int l = 0; l < c.NumLayers; l++)
            {
                model.ForwardLayer(state, l, hidden, Rows, 0);
            }
            var result = new float[(long)Rows * c.HiddenSize];
            _backend.Download(hidden, result);
            return result;
        }
        Assert.Equal(RunLayers(full), RunLayers(layer));
    }

    /// <summary><paramref name="count"/> token ids for positions a test only needs run.</summary>
    private static int[] Filler(int count) => [.. Enumerable.Range(0, count).Select(i => 3 + (i * 37 % 1000))];

    [Fact]
    public void The_KV_cache_never_grows_past_its_limit()
    {
        using LlamaModel model = LlamaModel.Load(Write(256), _backend);
        using RunState state = model.CreateState(4);
        model.Forward(state, [1, 2, 3, 4], 0, LogitsMode.Last);
        // One call for positions 4..200 grows the cache once, to what the call needs.
        model.Forward(state, Filler(197), 4, LogitsMode.Last);
        Assert.Equal(201, state.KvCapacity);
        model.Forward(state, [6], 201, LogitsMode.Last);
        Assert.Equal(256, state.KvCapacity);
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(state, [7], 256, LogitsMode.Last));
    }

    /// <summary>
    /// The tables grow with the positions reached, so a scaling f32 cannot follow (a linear factor of 1e-38) failed
    /// mid-run as non-finite logits; it is refused at load, naming config.json, the position and the factor.
    /// </summary>
    [Fact]
    public void A_rope_scaling_whose_angles_overflow_f32_is_refused_at_load()
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { RopeScaling = new RopeScalingConfig(RopeScalingKind.Linear, 1e-38, 1, 4, 0) };
        string dir = _temp.File("overflowing-rope");
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 3, tokenizerDirectory: null);
        var e = Assert.Throws<ModelConfigException>(() => LlamaModel.Load(dir, _backend));
        Assert.StartsWith(Path.Combine(dir, "config.json") + FormattableString.Invariant($": RoPE angle of position {config.MaxPositionEmbeddings - 1}, pair 0 is Infinity in f32"), e.Message, StringComparison.Ordinal);
        Assert.EndsWith("rope_scaling linear, factor 1E-38)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RoPE_tables_grown_on_demand_hold_the_values_of_the_full_table()
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with
        {
            MaxPositionEmbeddings = 4096,
            RopeTheta = 500000,
            RopeScaling = new RopeScalingConfig(RopeScalingKind.Llama3, 8, 1, 4, 64),
        };
        string dir = _temp.File("llama3-rope");
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 3, tokenizerDirectory: null);
        using LlamaModel model = LlamaModel.Load(dir, _backend);
        Assert.Equal(0, model.RopePositions);
        using RunState state = model.CreateState(8);
        Assert.Equal(8, model.RopePositions);
        model.Forward(state, [1, 2, 3, 4, 5, 6, 7, 8, 9], 0, LogitsMode.Last);
        Assert.Equal(16, model.RopePositions);
        model.Forward(state, Filler(992), 9, LogitsMode.Last); // positions 9..1000
        Assert.Equal(1001, model.RopePositions);
        model.Forward(state, [11], 1001, LogitsMode.Last);
        Assert.Equal(2002, model.RopePositions);

        RopeTables full = RopeTables.Build(4096, config.HeadDim, config.RopeTheta, new RopeScaling("llama3", 8, 1, 4, 64));
        (float[] cos, float[] sin) = model.ReadRopeTables();
        int n = 2002 * (config.HeadDim / 2);
        Assert.Equal(full.Cos.AsSpan(0, n).ToArray(), cos);
        Assert.Equal(full.Sin.AsSpan(0, n).ToArray(), sin);
    }
}
