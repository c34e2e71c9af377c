using Copal.Cli.Infrastructure;
using Copal.Model.Inference;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// The load's progress is typed, and the CLI words it: the lines are those the load wrote as text before, and the
/// layer counts are held back for a load's first second by their stage, not by matching their text.
/// </summary>
public sealed class LoadProgressLinesTests
{
    [Fact]
    public void Each_stage_is_worded_as_the_load_wrote_it()
    {
        Assert.Equal("config: LlamaForCausalLM: 5 layers", LoadProgressLines.Text(new LoadProgress(LoadStage.Config, "LlamaForCausalLM: 5 layers")));
        Assert.Equal("weights: 47 tensors in 1 file, mapped, on cpu", LoadProgressLines.Text(new LoadProgress(LoadStage.Weights, "47 tensors in 1 file, mapped, on cpu")));
        Assert.Equal("weights: 11 of 22 layers copied", LoadProgressLines.Text(new LoadProgress(LoadStage.LayersCopied, LayersDone: 11, Layers: 22)));
        Assert.Equal("weights: 22 of 22 layers uploaded", LoadProgressLines.Text(new LoadProgress(LoadStage.LayersUploaded, LayersDone: 22, Layers: 22)));
        Assert.Equal("sparse: 35 linears loaded compact, 0 converted at load (0.0 s), 0 densified",
            LoadProgressLines.Text(new LoadProgress(LoadStage.Sparse, "35 linears loaded compact, 0 converted at load (0.0 s), 0 densified")));
        Assert.Equal("sparse weights are densified at load (sparse kernels off)", LoadProgressLines.Text(new LoadProgress(LoadStage.Note, "sparse weights are densified at load (sparse kernels off)")));
    }

    [Fact]
    public void Layer_counts_wait_for_the_loads_first_second_and_the_other_stages_do_not()
    {
        var early = TimeSpan.FromMilliseconds(200);
        Assert.False(LoadProgressLines.Shows(new LoadProgress(LoadStage.LayersCopied, LayersDone: 2, Layers: 5), early));
        Assert.False(LoadProgressLines.Shows(new LoadProgress(LoadStage.LayersUploaded, LayersDone: 2, Layers: 5), early));
        Assert.True(LoadProgressLines.Shows(new LoadProgress(LoadStage.LayersCopied, LayersDone: 2, Layers: 5), TimeSpan.FromSeconds(1)));
        foreach (LoadStage stage in (LoadStage[])[LoadStage.Config, LoadStage.Weights, LoadStage.Sparse, LoadStage.Note])
        {
            // A note that happens to read like a count is still shown: stages are told apart by type, not by text.
            Assert.True(LoadProgressLines.Shows(new LoadProgress(stage, "weights: 1 of 2 layers copied"), early), stage.ToString());
        }
    }

    /// <summary>A load through the CLI shows the lines it showed when the library wrote them as text.</summary>
    [Fact]
    public void Generate_shows_the_loads_config_and_weights_lines()
    {
        CopalProcess.Result r = CopalProcess.Run("generate", "-m", TestData.Stories260K, "-p", "Once", "-n", "2", "--device", "cpu");

        Assert.True(r.ExitCode == 0, $"exit code {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Contains("\ncopal: config: LlamaForCausalLM: 5 layers, hidden 64, MLP 172, 8 heads (4 kv, head_dim 8), vocab 512, context 512, rope θ 10000, eps 1E-05, tied embeddings\n",
            r.Stderr.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.Contains("\ncopal: weights: ", r.Stderr, StringComparison.Ordinal);
        Assert.Contains(" in 1 file, ", r.Stderr, StringComparison.Ordinal);
    }
}
