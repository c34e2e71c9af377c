using Copal.Model.Config;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Generation;

/// <summary>
/// The stop ids gathered as HF's generate gathers them: config.json's and the tokenizer's EOS, and
/// generation_config.json's, where an instruct model's end-of-turn tokens often are and nowhere else.
/// </summary>
public sealed class StopTokensTests : IDisposable
{
    // Greedy from BOS (../shared/data/README.md): 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, ...
    private const int FifteenthToken = 426;

    private readonly TempDir _dir = new("copal-stops-");

    public void Dispose() => _dir.Dispose();

    /// <summary>The tokenizer's EOS is a stop id also where neither config.json nor generation_config.json names it.</summary>
    [Fact]
    public void The_tokenizers_eos_is_a_stop_id_where_the_configs_name_another_end_token()
    {
        string folder = TestData.CopyOfStories260K(_dir.File("other-eos"));
        string config = Path.Combine(folder, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"eos_token_id\": 2", $"\"eos_token_id\": {FifteenthToken}", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(folder, GenerationConfig.FileName), $"{{\"bos_token_id\": 1, \"eos_token_id\": {FifteenthToken}}}");
        using var backend = new CpuBackend(1);
        using LlamaModel model = LlamaModel.Load(folder, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(folder);
        Assert.Equal([FifteenthToken], model.Config.EosTokenIds);
        Assert.Equal(2, tokenizer.EosId);

        Assert.Equal([2, FifteenthToken], StopTokens.Of(model, tokenizer).Order());
    }

    [Fact]
    public void Generation_config_end_tokens_join_the_config_and_tokenizer_eos_and_stop_a_run()
    {
        string folder = TestData.CopyOfStories260K(_dir.File("model"));
        File.WriteAllText(Path.Combine(folder, GenerationConfig.FileName), $"{{\"bos_token_id\": 1, \"eos_token_id\": [2, {FifteenthToken}]}}");
        using var backend = new CpuBackend(1);
        using LlamaModel model = LlamaModel.Load(folder, backend);
        CopalTokenizer tokenizer = CopalTokenizer.FromDirectory(folder);

        HashSet<int> stops = StopTokens.Of(model, tokenizer);

        Assert.Equal([2, FifteenthToken], stops.Order());
        GenerationResult r = new Generator(model).Generate([1], 100, SamplingOptions.Greedy, stops);
        Assert.Equal(StopReason.EndOfSequence, r.StopReason);
        Assert.Equal(14, r.GeneratedIds.Count);
    }
}
