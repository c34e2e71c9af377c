using System.Text.Json;
using Copal.Tensors;
using Copal.Tensors.Numerics;
using Copal.Tensors.Safetensors;

namespace Copal.Prune.Tests;

/// <summary>
/// The checks of a pruned linear against an end-to-end reference's golden entry (tools/reference's pipeline and
/// COPAL references write the same fields): its mask bit for bit, and values within the pipeline tolerance.
/// </summary>
internal static class GoldenLinear
{
    /// <summary>
    /// The pruned checkpoint's <paramref name="name"/> against its golden entry: the mask bit for bit and the sum of
    /// squared weights within the tolerance.
    /// </summary>
    public static void AssertWeights(JsonElement expected, SafetensorsCheckpoint pruned, string name, string where)
    {
        TensorView view = pruned[name];
        var w = new float[view.ElementCount];
        FloatConvert.ToSingle(view, w);
        AssertSameMask(expected, w, where);
        AssertClose(expected.GetProperty("sum_squares").GetDouble(), w.Sum(v => (double)v * v), $"{where}: sum of squared weights");
    }

    /// <summary>The zeros of <paramref name="w"/> are the golden's <c>mask_bits</c> (base64, a bit per weight, set where pruned).</summary>
    public static void AssertSameMask(JsonElement expected, float[] w, string where)
    {
        byte[] bits = Convert.FromBase64String(expected.GetProperty("mask_bits").GetString()!);
        int differ = 0, first = -1;
        for (int i = 0; i < w.Length; i++)
        {
            if (((bits[i >> 3] & (1 << (i & 7))) != 0) != (w[i] == 0f))
            {
                differ++;
                first = first < 0 ? i : first;
            }
        }
        Assert.True(differ == 0, $"{where}: {differ} mask entries differ from the reference's, the first at flat index {first}");
    }

    /// <summary><paramref name="actual"/> within <see cref="PruningTolerances.PipelineRelative"/> of <paramref name="expected"/>, relative.</summary>
    public static void AssertClose(double expected, double actual, string what) =>
        Assert.True(Math.Abs(actual - expected) <= PruningTolerances.PipelineRelative * Math.Abs(expected),
            $"{what} {actual:R}, reference {expected:R}");
}
