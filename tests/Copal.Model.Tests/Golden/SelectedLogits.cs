using System.Text.Json;
using Copal.Model.Generation;
using Copal.Testing;

namespace Copal.Model.Tests.Golden;

/// <summary>
/// A golden case that stores, per position, some logits by id (the largest, and for the testbed every 32nd id), the
/// argmax and the logsumexp over the whole vocabulary, as tools/testbed/goldens.py and the reference's
/// variant-goldens write them.
/// </summary>
internal static class SelectedLogits
{
    /// <summary>
    /// The stored logits within <see cref="Tolerances.LogitsAbsolute"/>, the same argmax and the logsumexp within the
    /// same bound, at every position of <paramref name="logits"/> [positions, vocab].
    /// </summary>
    public static void AssertMatch(JsonElement golden, float[] logits, int vocab, string what)
    {
        int[] argmax = Ints(golden.GetProperty("argmax"));
        double[] logSumExp = [.. golden.GetProperty("logsumexp").EnumerateArray().Select(e => e.GetDouble())];
        int t = 0;
        foreach (JsonElement row in golden.GetProperty("logits").EnumerateArray())
        {
            ReadOnlySpan<float> actual = logits.AsSpan(t * vocab, vocab);
            int[] at = Ints(row.GetProperty("ids"));
            float[] expected = [.. row.GetProperty("values").EnumerateArray().Select(e => (float)e.GetDouble())];
            var picked = new float[at.Length];
            for (int k = 0; k < at.Length; k++)
            {
                picked[k] = actual[at[k]];
            }
            Tolerances.AssertClose(picked, expected, relative: 0, absolute: Tolerances.LogitsAbsolute, what: $"{what} logits at position {t} (ids {string.Join(',', at.Take(4))}..)");
            Assert.Equal(argmax[t], Sampler.ArgMax(actual));
            double max = double.NegativeInfinity, sum = 0;
            foreach (float v in actual)
            {
                max = Math.Max(max, v);
            }
            foreach (float v in actual)
            {
                sum += Math.Exp(v - max);
            }
            double lse = max + Math.Log(sum);
            Assert.True(Math.Abs(lse - logSumExp[t]) <= Tolerances.LogitsAbsolute, $"{what} logsumexp at position {t}: {lse:R}, reference {logSumExp[t]:R}");
            t++;
        }
        Assert.Equal(logits.Length / vocab, t);
    }

    private static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];
}
