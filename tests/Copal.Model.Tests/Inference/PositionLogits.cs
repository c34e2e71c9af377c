using Copal.Model.Inference;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>Every position's logits of a prompt, run in chunks: the prompt pass, decode steps, or chunks after a cache.</summary>
internal static class PositionLogits
{
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
