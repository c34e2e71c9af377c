using Copal.Model.Inference;

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
}
