using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// One layer of stories260K's shapes with a 65,536-wide MLP and a 4,096-position context: 6 MB of weights, and
/// 512 MiB for each of the MLP's activations over a window of 2,048 tokens. The memory tests' model: a small cgroup
/// holds its weights and short windows, not a long window.
/// </summary>
internal static class WideMlpModel
{
    /// <summary>Writes the model (synthetic weights, stories260K's tokenizer) into a new folder under <paramref name="temp"/>; returns it.</summary>
    public static string Write(string temp)
    {
        string config = Path.Combine(temp, "config.json");
        string text = File.ReadAllText(Path.Combine(TestData.Stories260K, "config.json"));
        text = Regex.Replace(text, "\"intermediate_size\": *172", "\"intermediate_size\": 65536");
        text = Regex.Replace(text, "\"num_hidden_layers\": *5", "\"num_hidden_layers\": 1");
        text = Regex.Replace(text, "\"max_position_embeddings\": *512", "\"max_position_embeddings\": 4096");
        File.WriteAllText(config, text);
        string model = Path.Combine(temp, "wide-mlp");
        CopalProcess.Result synth = CopalProcess.Run("synth", "--config", config, "--tokenizer", TestData.Stories260K, "-o", model);
        Assert.True(synth.ExitCode == 0, synth.Stderr);
        return model;
    }
}
