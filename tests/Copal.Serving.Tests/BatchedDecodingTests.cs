using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Prune;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// Batched decoding: K sequences in one forward pass give each the logits and the greedy text it gets alone, on
/// dense weights and on a compact 2:4 checkpoint running on the sparse kernels.
/// </summary>
public sealed class BatchedDecodingTests : IDisposable
{
    private static readonly string[] s_prompts =
    [
        "Once upon a time", "The little dog", "Lily and Tom went to the park.", "One day", "The sun was",
        "Sam had a red ball", "Mom said", "There was a big tree",
    ];

    private readonly TempDir _root = new("copal-serving-");

    public void Dispose() => _root.Dispose();

    /// <summary>stories260K pruned 2:4 by magnitude and compacted: its linears load as sparse weights.</summary>
    private string CompactModel()
    {
        string pruned = _root.File("pruned");
        var calibration = CalibrationSet.FromTokens([("ones", Enumerable.Repeat(1, 17).ToArray())], 1, 16, 0);
        var request = new PruneRequest(TestData.Stories260K, pruned, PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse("2:4")) { MeasureLayerError = false }, calibration);
        using (var backend = new CpuBackend(threads: 1))
        {
            PruneJob.Run(request, backend);
        }
        string compact = _root.File("compact");
        CheckpointCompactor.Compact(pruned, compact, CompactFormat.NM, overwrite: false);
        return compact;
    }

    /// <remarks>Also on <c>ilgpu-cpu</c>: the GPU kernels' batched step (GEMM linears, per-row RoPE, cache store and attention).</remarks>
    [Theory]
    [InlineData(false, "cpu")]
    [InlineData(true, "cpu")]
    [InlineData(false, "ilgpu-cpu")]
    [InlineData(true, "ilgpu-cpu")]
    public void A_batch_row_has_the_logits_of_its_sequence_decoded_alone(bool sparse, string device)
    {
        string dir = sparse ? CompactModel() : TestData.Stories260K;
        using IBackend backend = BackendFactory.Create(device);
        using LlamaModel model = LlamaModel.Load(dir, backend, SparseLoadMode.Auto);
        Assert.Equal(sparse, model.Weights.Layers[0][LinearId.QProj] is CpuSparseWeight or Copal.Tensors.Backends.Ilgpu.IlgpuSparseWeight);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(dir);
        int k = 5;
        var alone = new RunState[k];
        var batched = new RunState[k];
        var tokens = new int[k];
        var positions = new int[k];
        try
        {
            for (int i = 0; i < k; i++)
            {
                // Different prompt lengths: every row sits at its own position.
                int[] prompt = tokenizer.Encode(s_prompts[i]);
                alone[i] = model.CreateState(prompt.Length, 64);
                batched[i] = model.CreateState(prompt.Length, 64);
                model.Forward(alone[i], prompt.AsSpan(0, prompt.Length - 1), 0, LogitsMode.Last);
                model.Forward(batched[i], prompt.AsSpan(0, prompt.Length - 1), 0, LogitsMode.Last);
                tokens[i] = prompt[^1];
                positions[i] = prompt.Length - 1;
            }
            using var batch = new RunState(backend, model.Config, k, 1, allRowLogits: true);
            // Two steps, so the second reads keys and values the batched step wrote.
            for (int step = 0; step < 2; step++)
            {
                model.ForwardBatch(batch, batched, tokens, positions);
                float[] rows = model.ReadLogits(batch, k);
                int vocab = model.Config.VocabSize;
                for (int i = 0; i < k; i++)
                {
                    model.Forward(alone[i], [tokens[i]], positions[i], LogitsMode.Last);
                    float[] expected = model.ReadLogits(alone[i]);
                    float[] actual = rows[(i * vocab)..((i + 1) * vocab)];
                    if (device == "cpu" && !sparse)
                    {
                        // Up to 8 rows run each row's dense linears through the one-row sums, and the elementwise
                        // gates give an element the same bits wherever it falls: the same logits to the bit.
                        Assert.True(expected.AsSpan().SequenceEqual(actual), $"step {step} row {i}: a batch row's logits differ from its one-row decode");
                    }
                    Tolerances.AssertClose(actual, expected, Tolerances.KernelRelative, Tolerances.LogitsAbsolute, $"step {step} row {i}");
                    Assert.Equal(Array.IndexOf(expected, expected.Max()), Array.IndexOf(actual, actual.Max()));
                    tokens[i] = Array.IndexOf(expected, expected.Max());
                    positions[i]++;
                }
            }
        }
        finally
        {
            foreach (RunState? s in alone.Concat(batched))
            {
                s?.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("dense")]
    [InlineData("sparse")]
    [InlineData("windowed")]
    public async Task Concurrent_requests_decode_together_and_give_the_greedy_text_of_each_alone(string kind)
    {
        string dir = kind switch { "sparse" => CompactModel(), "windowed" => WindowedModel.CopyTo(_root.File("windowed")), _ => TestData.Stories260K };
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(dir, backend, SparseLoadMode.Auto);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(dir);
        // Past 2·4 + the engine's prefill chunk (128), the windowed caches slide.
        int MaxTokens = kind == "windowed" ? 160 : 24;
        var expected = s_prompts.Select(p => Reference.Greedy(model, tokenizer, tokenizer.Encode(p), MaxTokens)).ToArray();
        // Hold the first decode step until every request is queued, so four decode together: the first admission may
        // take one request alone (nothing asserted here needs them admitted together), the next fills the slots.
        var statistics = new TaskCompletionSource<EngineStatistics>();
        var options = new EngineOptions
        {
            Parallel = 4,
            BeforeDecodeStep = () =>
            {
                EngineStatistics s = statistics.Task.GetAwaiter().GetResult();
                // Bounded: a request that failed before it was queued must fail the test, not hang it.
                if (!SpinWait.SpinUntil(() => s.Started == s_prompts.Length, TimeSpan.FromMinutes(1)))
                {
                    throw new TimeoutException($"only {s.Started} of {s_prompts.Length} requests were queued");
                }
            },
        };
        using var engine = new InferenceEngine(model, tokenizer, options);
        statistics.SetResult(engine.Statistics);
        CompletionResult[] results = await Task.WhenAll(s_prompts.Select(p =>
            engine.CompleteAsync(new CompletionRequest { Prompt = p, MaxTokens = MaxTokens, Seed = 7 })));
        for (int i = 0; i < s_prompts.Length; i++)
        {
            Assert.Equal(expected[i].Ids, results[i].TokenIds);
            Assert.Equal(expected[i].Text, results[i].Text);
            Assert.Equal(new CompletionUsage(tokenizer.Encode(s_prompts[i]).Length, expected[i].Ids.Length), results[i].Usage);
        }
        if (kind == "windowed")
        {
            Assert.Contains(results, r => r.Usage.TotalTokens > (2 * 4) + 128); // a cache slid
        }
        Assert.Equal(4, engine.Statistics.PeakBatch);
        Assert.True(engine.Statistics.Rows > engine.Statistics.Steps, $"{engine.Statistics.Rows} rows in {engine.Statistics.Steps} steps: no step was batched");
        Assert.Equal(s_prompts.Length, engine.Statistics.Completed);
    }
}
