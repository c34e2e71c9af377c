using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// <c>logits</c> loads a compact checkpoint dense (it has no --sparse option: its figures are for comparison with other
/// implementations) and writes what the dense pruned model gives; its note said "(--sparse off)", an option the command lacks.
/// </summary>
public sealed class CompactLogitsTests : IDisposable
{
    private readonly TempDir _temp = new("copal-cli-compact-logits-");

    public void Dispose() => _temp.Dispose();

    private static CopalProcess.Result Ok(params string[] args)
    {
        CopalProcess.Result r = CopalProcess.Run(args);
        Assert.True(r.ExitCode == 0, $"copal {string.Join(' ', args)}: exit {r.ExitCode}; stderr: {r.Stderr}");
        return r;
    }

    [Fact]
    public void Logits_of_a_compact_model_are_the_dense_pruned_models_and_its_note_names_no_option_it_lacks()
    {
        string dense = _temp.File("dense"), compact = _temp.File("compact");
        Ok("prune", "-m", TestData.Stories260K, "-o", dense, "--method", "magnitude", "--pattern", "2:4", "--device", "cpu");
        Ok("compact", "-m", dense, "-o", compact);
        string fromDense = _temp.File("dense.json"), fromCompact = _temp.File("compact.json");
        Ok("logits", "-m", dense, "-t", "Once upon a time", "--top-k", "4", "-o", fromDense, "--device", "cpu");
        CopalProcess.Result r = Ok("logits", "-m", compact, "-t", "Once upon a time", "--top-k", "4", "-o", fromCompact, "--device", "cpu");

        Assert.Contains("sparse weights are densified at load", r.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("--sparse", r.Stderr, StringComparison.Ordinal);
        Assert.Equal(File.ReadAllText(fromDense), File.ReadAllText(fromCompact));
    }
}
