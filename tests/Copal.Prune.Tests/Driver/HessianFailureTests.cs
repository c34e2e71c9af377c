using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// A Hessian that no dampening allowed makes positive definite stops the run. SparseGPT's factorization knows only the
/// matrix, so the driver names the linear whose calibration inputs gave it: the one line says which tensor (and layer),
/// why, and what to change, and no model is written.
/// </summary>
public sealed class HessianFailureTests : IDisposable
{
    private readonly TempDir _temp = new("copal-prune-hessian-");

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData(64, 172, "model.layers.0.mlp.down_proj.weight", "in layer 0", false)] // the sixth linear pruned
    [InlineData(512, 64, "model.embed_tokens.weight", "(lm_head)", true)] // stories260K ties lm_head to the embedding
    public void A_hessian_no_dampening_factors_fails_the_run_naming_the_linear(int rows, int cols, string linear, string where, bool includeEmbeddings)
    {
        string outDir = _temp.File("out");
        // 1 × 16 tokens give a Hessian of rank ≤ 16 for 64 or 172 inputs: singular, so without dampening its Cholesky fails.
        var calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K), [TestData.Path("text", "tinystories", "calib.txt")], 1, 16, seed: 0);
        var method = new UndampedFor(rows, cols);
        using var backend = new CpuBackend(threads: 1);

        var e = Assert.Throws<HessianFactorizationException>(() => PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, new MethodPruner(method),
            new PruneOptions(SparsityPattern.Parse("0.5")) { IncludeEmbeddings = includeEmbeddings }, calibration), backend));

        Assert.StartsWith($"tensor '{linear}' {where}: the [", e.Message, StringComparison.Ordinal);
        Assert.Contains("is not positive definite after 1 attempts", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("raise the dampening (PercentDamp or MaxDampRetries of the method's options)", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.IsType<HessianFactorizationException>(e.InnerException);
        Assert.True(method.TriedUndamped);
        Assert.False(Directory.Exists(outDir));
    }

    // SparseGPT as the CLI runs it, except for the linears of one shape (in stories260K, one kind of linear), pruned
    // without dampening or retries.
    private sealed class UndampedFor(int undampedRows, int undampedCols) : IPruningMethod
    {
        private readonly SparseGptPruner _sparseGpt = new();
        private readonly SparseGptPruner _undamped = new(new SparseGptOptions(PercentDamp: 0, MaxDampRetries: 0));

        public bool TriedUndamped { get; private set; }

        public string Name => "sparsegpt";

        public bool NeedsHessian => true;

        public LinearPruneResult Prune(Span<float> weight, int rows, int cols, InputStatistics? stats, SparsityPattern pattern, CancellationToken cancellationToken = default)
        {
            if ((rows, cols) != (undampedRows, undampedCols))
            {
                return _sparseGpt.Prune(weight, rows, cols, stats, pattern, cancellationToken);
            }
            TriedUndamped = true;
            return _undamped.Prune(weight, rows, cols, stats, pattern, cancellationToken);
        }
    }
}
