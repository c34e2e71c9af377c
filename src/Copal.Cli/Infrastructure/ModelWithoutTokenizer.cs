namespace Copal.Cli.Infrastructure;

/// <summary>
/// A model folder without tokenizer.json can still be pruned (by magnitude), compacted and densified: the weights are
/// all those read. The output carries what the input had beside its weights (tokenizer_config.json,
/// generation_config.json, special_tokens_map.json ...) and so no tokenizer either, and cannot tokenize or generate
/// text. A run that ended without a word left that to be found by the next command; its last line says so, also with
/// --json (a warning about the input). continual tokenizes its datasets, so it refuses such a folder at once.
/// </summary>
internal static class ModelWithoutTokenizer
{
    private const string TokenizerFile = "tokenizer.json";

    /// <summary>Warns on stderr when <paramref name="input"/> has no tokenizer.json, so neither has <paramref name="output"/>.</summary>
    public static void WarnIfAbsent(string input, string output)
    {
        if (!File.Exists(Path.Combine(input, TokenizerFile)))
        {
            Out.Info($"copal: warning: the input {input} has no {TokenizerFile}, so neither has {output}: it cannot tokenize or generate text until one is put beside its weights");
        }
    }
}
