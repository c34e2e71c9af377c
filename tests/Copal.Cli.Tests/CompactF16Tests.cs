using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// An F16 model (Llama-2-7b-hf stores its linears so) prunes straight to a compact checkpoint whose values stay F16,
/// compacts after a dense prune the same way, and generates what the dense pruned model does. Both commands refused
/// it by its dtype, prune --compact before any pruning.
/// </summary>
public sealed class CompactF16Tests : IDisposable
{
    private readonly TempDir _temp = new("copal-cli-f16-");

    public void Dispose() => _temp.Dispose();

    private static CopalProcess.Result Ok(params string[] args)
    {
        CopalProcess.Result r = CopalProcess.Run(args);
        Assert.True(r.ExitCode == 0, $"copal {string.Join(' ', args)}: exit {r.ExitCode}; stderr: {r.Stderr}");
        return r;
    }

    private static string Greedy(string model) => Ok("generate", "-m", model, "-p", "Once upon a time", "-n", "24", "--temperature", "0", "--device", "cpu").Stdout;

    [Fact]
    public void An_F16_model_prunes_to_compact_and_compacts_with_its_values_in_F16()
    {
        // The real model, so greedy choices are not near-ties that the sparse kernels' summation order could flip.
        string f16 = F16Checkpoints.Copy(TestData.Stories260K, _temp.File("f16"));
        string dense = _temp.File("dense"), direct = _temp.File("direct"), later = _temp.File("later");
        Ok("prune", "-m", f16, "-o", dense, "--method", "magnitude", "--pattern", "2:4", "--device", "cpu");
        Ok("prune", "-m", f16, "-o", direct, "--method", "magnitude", "--pattern", "2:4", "--compact", "--device", "cpu");
        Ok("compact", "-m", dense, "-o", later);
        string inspect = Ok("inspect", "-m", direct).Stdout;
        Assert.Matches(@"model\.layers\.0\.self_attn\.q_proj\.weight\.nm_values +F16 +\[64, 32\]", inspect);
        Assert.Contains("35 compact linears (35 2:4)", inspect, StringComparison.Ordinal);
        string expected = Greedy(dense);
        Assert.Equal(expected, Greedy(direct));
        Assert.Equal(expected, Greedy(later));
    }
}
