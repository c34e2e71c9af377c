using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Generation;

/// <summary>
/// A model whose vocabulary is padded beyond its tokenizer (Qwen2: 151,936 rows for 151,665 tokens) has ids that map
/// to no text. Generation never chooses them: here stories260K's 512 ids are cut to the first 100.
/// </summary>
public sealed class PaddedVocabularyTests
{
    private static readonly SamplingOptions Hot = new() { Temperature = 2f, Seed = 3 };

    [Fact]
    public void The_generator_samples_only_ids_the_tokenizer_has()
    {
        using var cpu = new CpuBackend(1);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, cpu);
        IReadOnlyList<int> free = new Generator(model).Generate([1], 200, Hot, new HashSet<int>()).GeneratedIds;
        IReadOnlyList<int> cut = new Generator(model) { DecodableTokens = 100 }.Generate([1], 200, Hot, new HashSet<int>()).GeneratedIds;
        Assert.Contains(free, id => id >= 100); // without the bound, such a run does choose them
        Assert.Equal(200, cut.Count);
        Assert.All(cut, id => Assert.InRange(id, 0, 99));
    }
}
