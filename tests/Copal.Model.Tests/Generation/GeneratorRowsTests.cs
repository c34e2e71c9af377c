using Copal.Model.Config;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Testing;

namespace Copal.Model.Tests.Generation;

/// <summary>
/// A generation decodes in one row: the rows of its prompt's chunks (up to 512, about 99 MiB at LLaMA-7B's shapes)
/// were held until the reply ended. They go back after the prefill, and the first decode step allocates its one row
/// (a state still holding the prompt's rows would allocate nothing for it), and the reply's tokens are the greedy ones a
/// single forward call over the prompt and the reply gives.
/// </summary>
public sealed class GeneratorRowsTests : IDisposable
{
    private readonly AllocationCountingBackend _backend = new();
    private readonly LlamaModel _model;

    public GeneratorRowsTests() => _model = LlamaModel.Load(TestData.Stories260K, _backend);

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
    }

    [Fact]
    public void The_first_decode_step_allocates_one_row_after_the_prompts_rows_are_given_back()
    {
        int[] prompt = [.. Enumerable.Range(0, 300).Select(i => 1 + (i * 37 % 500))];
        var floatsAtToken = new List<long>();

        GenerationResult r = new Generator(_model).Generate(prompt, 8, SamplingOptions.Greedy, new HashSet<int>(), _ => floatsAtToken.Add(_backend.Floats));

        Assert.Equal(8, r.GeneratedIds.Count);
        LlamaConfig c = _model.Config;
        long oneRow = (3L * c.HiddenSize) + (2L * c.QDim) + (2L * c.KvDim) + (2L * c.IntermediateSize) + c.VocabSize;
        // Between the first token and the second ran one decode step, in a KV cache reserved for prompt + 256.
        Assert.Equal(oneRow, floatsAtToken[1] - floatsAtToken[0]);
        Assert.Equal(0, floatsAtToken[2] - floatsAtToken[1]);
        Assert.Equal(GreedyFromOneForward(prompt, r.GeneratedIds), r.GeneratedIds);
    }

    /// <summary>
    /// The greedy token after each position of the prompt and the reply but the last, from one forward call over all
    /// of them (every row's logits, no rows given back): the reply decoded one row at a time must be these tokens.
    /// </summary>
    private int[] GreedyFromOneForward(int[] prompt, IReadOnlyList<int> reply)
    {
        int[] ids = [.. prompt, .. reply.Take(reply.Count - 1)];
        using RunState state = _model.CreateState(ids.Length, ids.Length, allRowLogits: true);
        _model.Forward(state, ids, 0, LogitsMode.All);
        float[] logits = _model.ReadLogits(state, ids.Length);
        int vocab = _model.Config.VocabSize;
        return [.. Enumerable.Range(prompt.Length - 1, reply.Count).Select(row => ArgMax(logits.AsSpan(row * vocab, vocab)))];
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++)
        {
            best = row[i] > row[best] ? i : best;
        }
        return best;
    }
}
