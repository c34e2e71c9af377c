using Copal.Model.Config;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Serving;
using Copal.Model.Synthetic;
using Copal.Model.Tokenization;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// Non-finite logits in one row of a batched decode step fail that request alone: the batch's other rows do not
/// depend on it, so they finish as they would alone, and the engine goes on serving. A synthetic model (untied
/// embeddings) has the embedding row of a token that one request's greedy path feeds back set to NaN.
/// </summary>
public sealed class NonFiniteRowTests : IDisposable
{
    private readonly TempDir _temp = new("copal-nan-row-");

    [Fact]
    public async Task A_row_with_non_finite_logits_fails_its_request_alone()
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny");
        Assert.False(config.TieWordEmbeddings); // else a NaN row of the embedding would be a NaN logit in every row
        string dir = _temp.File("model");
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 7, tokenizerDirectory: TestData.Path("tokenizers", "llama2"));
        int[] a = [1, 100, 200], b = [1, 300, 400];
        using var cpu = new CpuBackend(1);
        IReadOnlyList<int> greedyA, greedyB;
        using (LlamaModel clean = LlamaModel.Load(dir, cpu))
        {
            greedyA = new Generator(clean).Generate(a, 6, SamplingOptions.Greedy, new HashSet<int>()).GeneratedIds;
            greedyB = new Generator(clean).Generate(b, 6, SamplingOptions.Greedy, new HashSet<int>()).GeneratedIds;
        }
        int poisoned = greedyA[2]; // fed back as A's input at its fourth step
        Assert.DoesNotContain(poisoned, b.Concat(greedyB).Concat(a).Concat(greedyA.Take(2)));
        CheckpointBytes.EditF32Tensor(dir, "model.embed_tokens.weight", (bytes, start) =>
        {
            for (int i = 0; i < config.HiddenSize; i++)
            {
                BitConverter.GetBytes(float.NaN).CopyTo(bytes, start + (((long)poisoned * config.HiddenSize) + i) * sizeof(float));
            }
        });

        using var engine = new InferenceEngine(LlamaModel.Load(dir, cpu, SparseLoadMode.Off, allowNonFinite: true),
            CopalTokenizer.FromDirectory(dir), new EngineOptions { Parallel = 2, DecodableTokens = config.VocabSize }, ownsModel: true);
        Task<CompletionResult> first = engine.CompleteAsync(new CompletionRequest { PromptIds = a, MaxTokens = 6 });
        Task<CompletionResult> second = engine.CompleteAsync(new CompletionRequest { PromptIds = b, MaxTokens = 6 });
        await Assert.ThrowsAsync<NonFiniteLogitsException>(() => first);
        Assert.Equal(greedyB, (await second).TokenIds);
        Assert.Equal(greedyB, (await engine.CompleteAsync(new CompletionRequest { PromptIds = b, MaxTokens = 6 })).TokenIds);
        Assert.Equal(0, engine.Statistics.Active);
    }

    public void Dispose() => _temp.Dispose();
}
