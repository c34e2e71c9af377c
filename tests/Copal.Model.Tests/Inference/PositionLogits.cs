using Copal.Model.Inference;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>Every position's logits of a prompt, run in chunks: the prompt pass, decode steps, or chunks after a cache.</summary>
internal static class PositionLogits
{
    /// <summary>A prompt of <paramref name="length"/> ids spread over a 32k vocabulary, the same in every architecture's tests.</summary>
    public static int[] Prompt(int length) => [.. Enumerable.Range(0, length).Select(i => 1 + (i * 7919 % 31000))];

    /// <summary>Logits [prompt.Length][vocab], <paramref name="prompt"/> fed in chunks of <paramref name="chunk"/> tokens.</summary>
    public static float[][] Of(LlamaModel model, int[] prompt, int chunk)
    {
        using RunState state = model.CreateState(chunk, prompt.Length, allRowLogits: true);
        var rows = new List<float[]>();
        for (int start = 0; start < prompt.Length; start += chunk)
        {
            int n = Math.Min(chunk, prompt.Length - start);
            model.Forward(state, prompt.AsSpan(start, n), start, LogitsMode.All);
            float[] all = model.ReadLogits(state, n);
            int vocab = all.Length / n;
            rows.AddRange(Enumerable.Range(0, n).Select(r => all[(r * vocab)..((r + 1) * vocab)]));
        }
        return [.. rows];
    }

    /// <summary>
    /// Asserts that decode steps and the batched step (<see cref="LlamaModel.ForwardBatch"/>, one sequence a token at a
    /// time) give <paramref name="whole"/>, the prompt pass's logits, at every position; <paramref name="what"/> leads
    /// the messages.
    /// </summary>
    public static void AssertStepsMatch(LlamaModel model, int[] prompt, float[][] whole, string what = "")
    {
        float[][] stepwise = Of(model, prompt, 1);
        using RunState sequence = model.CreateState(1, prompt.Length);
        using RunState batch = model.CreateState(1, 1, allRowLogits: true);
        for (int p = 0; p < prompt.Length; p++)
        {
            Tolerances.AssertClose(stepwise[p], whole[p], what: $"{what}decode logits at position {p}");
            model.ForwardBatch(batch, [sequence], prompt.AsSpan(p, 1), [p]);
            Tolerances.AssertClose(model.ReadLogits(batch), whole[p], what: $"{what}batched logits at position {p}");
        }
    }

    /// <summary>
    /// Asserts that <paramref name="actual"/> gives <paramref name="expected"/>'s logits at every position of
    /// <paramref name="prompt"/>, run as one pass each, within the tolerance policy (another backend's summation order).
    /// </summary>
    public static void AssertAgree(LlamaModel actual, LlamaModel expected, int[] prompt, string what)
    {
        float[][] want = Of(expected, prompt, prompt.Length), got = Of(actual, prompt, prompt.Length);
        for (int p = 0; p < prompt.Length; p++)
        {
            Tolerances.AssertClose(got[p], want[p], what: $"{what} at position {p}");
        }
    }
}
