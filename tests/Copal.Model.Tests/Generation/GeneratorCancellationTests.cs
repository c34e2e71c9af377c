using Copal.Model.Config;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Testing;

namespace Copal.Model.Tests.Generation;

/// <summary>
/// <see cref="Generator.Generate"/> stops when its token is cancelled, as every Copal API does, with
/// <see cref="OperationCanceledException"/>: before any work, within the prefill chunk in flight, between decode steps.
/// The work done is counted by the backend's embedding lookups (one per forward chunk), not timed.
/// </summary>
public sealed class GeneratorCancellationTests : IDisposable
{
    // Four prefill chunks: 512, 512, 512 and 464 prompt tokens.
    private const int PromptTokens = 2000;

    private readonly TempDir _temp = new("copal-cancel-");
    private readonly EmbeddingCountingBackend _backend = new(1);
    private readonly LlamaModel _model;
    private readonly int[] _prompt = [.. Enumerable.Range(0, PromptTokens).Select(i => 1 + (i * 37 % 1000))];

    public GeneratorCancellationTests()
    {
        string dir = _temp.File("model");
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { MaxPositionEmbeddings = 4096 };
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 7, tokenizerDirectory: null);
        _model = LlamaModel.Load(dir, _backend);
    }

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
        _temp.Dispose();
    }

    [Fact]
    public void The_prefill_runs_in_chunks_when_nothing_cancels_it()
    {
        _backend.Reset();
        GenerationResult r = new Generator(_model).Generate(_prompt, 2, SamplingOptions.Greedy, new HashSet<int>());
        Assert.Equal(2, r.GeneratedIds.Count);
        Assert.Equal([512, 512, 512, 464, 1], _backend.Rows);
    }

    /// <summary>A long prompt is seconds before the first token: the prefill tells each chunk done, the last one the whole prompt.</summary>
    [Fact]
    public void The_prefill_reports_the_prompt_tokens_run_after_each_chunk()
    {
        _backend.Reset();
        var reports = new List<int>();
        GenerationResult r = new Generator(_model) { PrefillProgress = new CallbackProgress<int>(reports.Add) }
            .Generate(_prompt, 2, SamplingOptions.Greedy, new HashSet<int>());
        Assert.Equal([512, 1024, 1536, 2000], reports);
        Assert.Equal([512, 512, 512, 464, 1], _backend.Rows);
        Assert.Equal(new Generator(_model).Generate(_prompt, 2, SamplingOptions.Greedy, new HashSet<int>()).GeneratedIds, r.GeneratedIds);
    }

    [Fact]
    public void A_token_cancelled_at_the_first_prefill_report_runs_no_further_chunk()
    {
        _backend.Reset();
        using var cancel = new CancellationTokenSource();
        var reports = new List<int>();
        var generator = new Generator(_model)
        {
            PrefillProgress = new CallbackProgress<int>(done =>
            {
                reports.Add(done);
                cancel.Cancel();
            }),
        };
        Assert.ThrowsAny<OperationCanceledException>(() => generator.Generate(_prompt, 2, SamplingOptions.Greedy, new HashSet<int>(), cancellationToken: cancel.Token));
        Assert.Equal([512], reports);
        Assert.Equal([512], _backend.Rows);
    }

    /// <summary>Cancelled at the prefill's last report, after the prompt's rows are given back: no decode step runs.</summary>
    [Fact]
    public void A_token_cancelled_at_the_last_prefill_report_runs_no_decode_step()
    {
        _backend.Reset();
        using var cancel = new CancellationTokenSource();
        var tokens = new List<int>();
        var generator = new Generator(_model)
        {
            PrefillProgress = new CallbackProgress<int>(done =>
            {
                if (done == PromptTokens)
                {
                    cancel.Cancel();
                }
            }),
        };
        Assert.ThrowsAny<OperationCanceledException>(() => generator.Generate(_prompt, 2, SamplingOptions.Greedy, new HashSet<int>(), tokens.Add, cancel.Token));
        Assert.Empty(tokens);
        Assert.Equal([512, 512, 512, 464], _backend.Rows);
    }

    [Fact]
    public void An_already_cancelled_token_throws_before_any_forward_pass()
    {
        _backend.Reset();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new Generator(_model).Generate(_prompt, 5, SamplingOptions.Greedy, new HashSet<int>(), cancellationToken: cancel.Token));
        Assert.Empty(_backend.Rows);
    }

    [Fact]
    public void Cancelling_during_the_prefill_stops_it_within_the_chunk_in_flight()
    {
        _backend.Reset();
        using var cancel = new CancellationTokenSource();
        _backend.OnEmbedding = _ => cancel.Cancel(); // during the first chunk
        var tokens = new List<int>();
        try
        {
            Assert.ThrowsAny<OperationCanceledException>(() =>
                new Generator(_model).Generate(_prompt, 5, SamplingOptions.Greedy, new HashSet<int>(), tokens.Add, cancel.Token));
        }
        finally
        {
            _backend.OnEmbedding = null;
        }
        Assert.Equal([512], _backend.Rows);
        Assert.Empty(tokens);
    }

    [Fact]
    public void Cancelling_during_decode_throws_with_the_tokens_so_far_given_to_the_callback()
    {
        using var cancel = new CancellationTokenSource();
        var tokens = new List<int>();
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new Generator(_model).Generate([1, 2, 3], 50, SamplingOptions.Greedy, new HashSet<int>(), id =>
            {
                tokens.Add(id);
                if (tokens.Count == 3)
                {
                    cancel.Cancel();
                }
            }, cancel.Token));
        Assert.Equal(3, tokens.Count);
        IReadOnlyList<int> whole = new Generator(_model).Generate([1, 2, 3], 3, SamplingOptions.Greedy, new HashSet<int>()).GeneratedIds;
        Assert.Equal(whole, tokens);
    }
}
