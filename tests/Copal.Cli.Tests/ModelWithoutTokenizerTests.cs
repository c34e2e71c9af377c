using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// A model folder without tokenizer.json: magnitude prune, compact and densify need only its weights and succeed, with
/// an output that carries what the input had beside them (tokenizer_config.json, generation_config.json) and no
/// tokenizer. They ended without a word of it; the last line now says the output cannot generate text. continual,
/// which tokenizes its datasets, refuses the folder at once, naming the file.
/// </summary>
public sealed class ModelWithoutTokenizerTests : IDisposable
{
    private readonly TempDir _temp = new("copal-notok-");
    private readonly string _model;

    public ModelWithoutTokenizerTests()
    {
        _model = TestData.CopyOfStories260K(_temp.File("model"));
        File.Delete(Path.Combine(_model, "tokenizer.json"));
    }

    private void AssertWarnedLast(CopalProcess.Result r, string input, string output)
    {
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.EndsWith($"copal: warning: the input {input} has no tokenizer.json, so neither has {output}: it cannot tokenize or generate text until one is put beside its weights\n",
            r.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(output, "tokenizer.json")));
        foreach (string kept in new[] { "tokenizer_config.json", "generation_config.json", "config.json" })
        {
            Assert.Equal(File.ReadAllBytes(Path.Combine(input, kept)), File.ReadAllBytes(Path.Combine(output, kept)));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Prune_compact_and_densify_say_last_that_the_output_has_no_tokenizer(bool json)
    {
        string[] asJson = json ? ["--json"] : [];
        string pruned = _temp.File("pruned"), compact = _temp.File("compact"), dense = _temp.File("dense");
        AssertWarnedLast(CopalProcess.Run(["prune", "-m", _model, "-o", pruned, "--method", "magnitude", "--pattern", "2:4", "--device", "cpu", .. asJson]), _model, pruned);
        AssertWarnedLast(CopalProcess.Run(["compact", "-m", pruned, "-o", compact, .. asJson]), pruned, compact);
        AssertWarnedLast(CopalProcess.Run(["densify", "-m", compact, "-o", dense, .. asJson]), compact, dense);
    }

    [Fact]
    public void A_model_with_its_tokenizer_gets_no_warning()
    {
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", TestData.Stories260K, "-o", _temp.File("out"), "--method", "magnitude", "--sparsity", "0.5", "--device", "cpu");
        Assert.Equal(0, r.ExitCode);
        Assert.DoesNotContain("warning", r.Stderr, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_temp.File("out"), "tokenizer.json")));
    }

    [Fact]
    public void Continual_refuses_the_folder_at_once_naming_the_file()
    {
        CopalProcess.Result r = CopalProcess.Run("continual", "-m", _model, "--datasets", $"a={TestData.Path("text", "tinystories", "calib.txt")}",
            "--methods", "wanda", "--sparsity", "0.5", "--nsamples", "2", "--seqlen", "16", "-o", _temp.File("report"), "--device", "cpu");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no tokenizer.json in the model folder", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("report")));
    }

    public void Dispose() => _temp.Dispose();
}
