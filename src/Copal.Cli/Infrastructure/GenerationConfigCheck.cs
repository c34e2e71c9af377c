using Copal.Model.Config;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// generation_config.json read against config.json's vocabulary before the weights load: a mistyped stop id should
/// not wait for gigabytes to be read before it is reported. Commands that generate (generate, serve) call it.
/// </summary>
internal static class GenerationConfigCheck
{
    /// <summary>
    /// Throws <see cref="ModelConfigException"/> when <paramref name="modelDirectory"/>'s generation_config.json is
    /// unreadable or names an id outside the vocabulary. Without a config.json there is nothing to check against
    /// (its absence is the loader's error to report).
    /// </summary>
    public static void BeforeLoad(string modelDirectory)
    {
        if (File.Exists(Path.Combine(modelDirectory, "config.json")))
        {
            _ = GenerationConfig.EosTokenIds(modelDirectory, LlamaConfig.Load(modelDirectory).VocabSize);
        }
    }
}
