using Copal.Model.Config;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Testing;

namespace Copal.Model.Tests.Generation;

/// <summary>
/// <see cref="Generator.Generate"/> checks every prompt id against the model's vocabulary before any work, naming its own
/// parameter (<c>prompt</c>), the position and both bounds. The check was the forward pass's, chunk by chunk: a bad id
/// past the first 512 was found only after that chunk had run, and the exception named <c>tokens</c>, a parameter
/// the caller never saw.
/// </summary>
public sealed class GeneratorPromptCheckTests : IDisposable
{
    private readonly TempDir _temp = new("copal-prompt-check-");
    private readonly EmbeddingCountingBackend _backend = new(1);
    private readonly LlamaModel _model;

    public GeneratorPromptCheckTests()
    {
        string dir = _temp.File("model");
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { MaxPositionEmbeddings = 2048 };
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 7, tokenizerDirectory: null);
        _model = LlamaModel.Load(dir, _backend);
    }

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
        _temp.Dispose();
    }

    [Theory]
    [InlineData(1, -1)]
    [InlineData(1, int.MaxValue)]
    [InlineData(700, -5)]       // in the second prefill chunk
    [InlineData(700, 0)]        // 0 stands for the vocabulary's size, the first id past it
    public void An_id_outside_the_vocabulary_is_refused_naming_the_prompt_before_any_work(int at, int id)
    {
        int vocab = _model.Config.VocabSize;
        int bad = id == 0 ? vocab : id;
        int[] prompt = [.. Enumerable.Range(0, 800).Select(i => 1 + (i % (vocab - 1)))];
        prompt[at] = bad;
        var progress = new List<int>();
        var generator = new Generator(_model) { PrefillProgress = new CallbackProgress<int>(progress.Add) };

        var e = Assert.Throws<ArgumentOutOfRangeException>(() => generator.Generate(prompt, 4, SamplingOptions.Greedy, new HashSet<int>()));
        Assert.Equal("prompt", e.ParamName);
        Assert.Equal(bad, e.ActualValue);
        Assert.StartsWith($"prompt[{at}] is token id {bad}, outside the model's vocabulary [0, {vocab})", e.Message, StringComparison.Ordinal);
        Assert.Empty(_backend.Rows);  // no forward pass ran
        Assert.Empty(progress);
    }
}
