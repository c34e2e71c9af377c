using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Tokenization;

namespace Copal.Model.Generation;

/// <summary>The token ids that end a generation, gathered where Hugging Face's generate finds them.</summary>
internal static class StopTokens
{
    /// <summary>
    /// config.json's <c>eos_token_id</c>, generation_config.json's (an instruct model's end-of-turn tokens, often only
    /// there) and the tokenizer's EOS token, for <paramref name="model"/> read from its folder.
    /// </summary>
    /// <exception cref="ModelConfigException">generation_config.json is unreadable or names an id the vocabulary lacks.</exception>
    public static HashSet<int> Of(LlamaModel model, CopalTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        var stops = new HashSet<int>(model.Config.EosTokenIds);
        if (Directory.Exists(model.Source))
        {
            stops.UnionWith(GenerationConfig.EosTokenIds(model.Source, model.Config.VocabSize));
        }
        if (tokenizer.EosId is int eos)
        {
            stops.Add(eos);
        }
        return stops;
    }
}
