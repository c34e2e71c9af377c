using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests;

/// <summary>The library's loading calls take a CancellationToken and stop on it (here: one cancelled before the call).</summary>
public sealed class CancelledLoadTests
{
    private static CancellationToken Cancelled() => new(canceled: true);

    [Fact]
    public void Loading_a_model_or_an_engine_stops_on_a_cancelled_token()
    {
        using var cpu = new CpuBackend(1);
        Assert.ThrowsAny<OperationCanceledException>(() => LlamaModel.Load(TestData.Stories260K, cpu, cancellationToken: Cancelled()));
        Assert.ThrowsAny<OperationCanceledException>(() => InferenceEngine.Load(TestData.Stories260K, cpu, cancellationToken: Cancelled()));
    }

    [Fact]
    public void Tokenizing_calibration_files_stops_on_a_cancelled_token()
    {
        string[] files = [TestData.Path("text", "tinystories", "calib.txt")];
        Assert.ThrowsAny<OperationCanceledException>(() => PruneJob.Calibrate(TestData.Stories260K, files, 4, 64, 0, Cancelled()));
        Assert.Equal(4, PruneJob.Calibrate(TestData.Stories260K, files, 4, 64, 0).Samples.Count);
    }

    [Fact]
    public void Preparing_a_continual_run_stops_on_a_cancelled_token()
    {
        string text = TestData.Path("text", "tinystories", "eval.txt");
        var request = new Copal.Prune.Continual.Protocol.ContinualRequest(TestData.Stories260K,
            Copal.Prune.Continual.Protocol.ContinualDataset.ParseList($"tiny={text}"), ["magnitude"], SparsityPattern.Parse("0.5"), 1, 16, 16, [0UL],
            new Copal.Prune.Continual.CopalOptions());
        Assert.ThrowsAny<OperationCanceledException>(() => Copal.Prune.Continual.Protocol.ContinualRunner.Prepare(request, cancellationToken: Cancelled()));
    }

    /// <summary>
    /// A text is tokenized whole, and WikiText-2's test text is 1.3 million characters: a token cancelled at the first
    /// report of its tokenizing stops it there, before the evaluation text (before, the token was checked only
    /// between texts, and a text of tens of megabytes ran to its end after Ctrl-C).
    /// </summary>
    [Fact]
    public void Preparing_a_continual_run_stops_within_a_text_cancelled_as_it_is_tokenized()
    {
        string wiki = TestData.Path("text", "wikitext-2-raw-v1", "test.joined.txt");
        var request = new Copal.Prune.Continual.Protocol.ContinualRequest(TestData.Stories260K,
            Copal.Prune.Continual.Protocol.ContinualDataset.ParseList($"wiki={wiki}:{wiki}"), ["magnitude"], SparsityPattern.Parse("0.5"), 1, 16, 16, [0UL],
            new Copal.Prune.Continual.CopalOptions());
        using var cts = new CancellationTokenSource();
        var stages = new List<string>();
        var progress = new CallbackProgress<Copal.Prune.Continual.Protocol.ContinualProgress>(p =>
        {
            stages.Add(p.Stage);
            if (p.Stage.EndsWith(" characters", StringComparison.Ordinal))
            {
                cts.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() => Copal.Prune.Continual.Protocol.ContinualRunner.Prepare(request, progress, cts.Token));

        Assert.StartsWith("tokenizing wiki (calibration): ", stages[^1], StringComparison.Ordinal);
        Assert.DoesNotContain(stages, s => s.Contains("evaluation", StringComparison.Ordinal));
    }
}
