using Copal.Model.Evaluation;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Model.Tests.Evaluation;

/// <summary>
/// The evaluator reads a window's logits from the backend a block of rows at a time; the sums must be those of the
/// whole window's logits row by row, for windows that span several blocks, strides below the window, and a base model.
/// </summary>
public sealed class PerplexityEvaluatorTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-ppl-").FullName;
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        Directory.Delete(_temp, recursive: true);
    }

    private LlamaModel Model(string name, ulong seed)
    {
        string dir = Path.Combine(_temp, name);
        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny"), dir, DType.F32, seed, tokenizerDirectory: null);
        return LlamaModel.Load(dir, _backend);
    }

    [Theory]
    [InlineData(150, 150)]
    [InlineData(150, 40)]
    [InlineData(64, 64)]
    [InlineData(65, 30)]
    public void Block_reads_give_the_sums_of_the_whole_windows(int seqLen, int stride)
    {
        using LlamaModel model = Model("a", 5), baseModel = Model("b", 6);
        int[] tokens = Inference.PositionLogits.Prompt(400);
        PerplexityResult r = PerplexityEvaluator.Evaluate(model, tokens, new PerplexityOptions(seqLen) { Stride = stride }, baseModel);

        // Whole-window logits, row by row, as the protocol counts them.
        int vocab = model.Config.VocabSize;
        int chunks = ((tokens.Length - seqLen) / stride) + 1;
        double nll = 0, baseNll = 0;
        long predicted = 0, agree = 0;
        var kls = new List<double>();
        for (int c = 0; c < chunks; c++)
        {
            int[] window = tokens[(c * stride)..((c * stride) + seqLen)];
            float[] logits = WindowLogits(model, window), baseLogits = WindowLogits(baseModel, window);
            for (int t = c == 0 || stride == seqLen ? 1 : seqLen - stride; t < seqLen; t++)
            {
                float[] row = logits[((t - 1) * vocab)..(t * vocab)], baseRow = baseLogits[((t - 1) * vocab)..(t * vocab)];
                nll += LogProbabilities.Nll(row, window[t]);
                baseNll += LogProbabilities.Nll(baseRow, window[t]);
                kls.Add(LogProbabilities.KlDivergence(baseRow, row));
                agree += Sampler.ArgMax(baseRow) == Sampler.ArgMax(row) ? 1 : 0;
                predicted++;
            }
        }
        Assert.Equal(predicted, r.PredictedTokens);
        Assert.Equal(Math.Exp(nll / predicted), r.Perplexity);
        Assert.Equal(Math.Exp(baseNll / predicted), r.Comparison!.BasePerplexity);
        kls.Sort(); // the evaluator averages them sorted (it takes the 99th percentile from the same list)
        Assert.Equal(kls.Average(), r.Comparison.MeanKl);
        Assert.Equal((double)agree / predicted, r.Comparison.Top1Agreement);
    }

    private static float[] WindowLogits(LlamaModel model, int[] window)
    {
        using RunState state = model.CreateState(window.Length, window.Length, allRowLogits: true);
        model.Forward(state, window, 0, LogitsMode.All);
        return model.ReadLogits(state, window.Length);
    }
}
