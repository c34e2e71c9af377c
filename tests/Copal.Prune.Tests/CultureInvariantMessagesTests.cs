using System.Globalization;
using Copal.Model.Config;
using Copal.Prune.Calibration;
using Copal.Tensors;
using Copal.Tensors.Sparse;

namespace Copal.Prune.Tests;

/// <summary>
/// The libraries' messages read the same under any culture a NuGet user's process may run in: numbers are written the
/// invariant way ('.' for decimals, ',' between thousands, '-' for a minus, "50 %"), never the current culture's.
/// </summary>
public sealed class CultureInvariantMessagesTests
{
    /// <summary>
    /// de-DE's number format ('.' between thousands, ',' for decimals), with sv-SE's minus sign (U+2212), tr-TR's
    /// percent pattern ("%50") and ru-RU's NaN ("не число") for good measure. Built by hand because the tests run with invariant globalization
    /// (Directory.Build.props), where no named culture but the invariant one exists.
    /// </summary>
    private static CultureInfo GermanLike()
    {
        var c = (CultureInfo)CultureInfo.InvariantCulture.Clone();
        NumberFormatInfo n = c.NumberFormat;
        n.NumberDecimalSeparator = ",";
        n.NumberGroupSeparator = ".";
        n.PercentDecimalSeparator = ",";
        n.PercentGroupSeparator = ".";
        n.NegativeSign = "\u2212";
        n.PercentPositivePattern = 2;
        n.NaNSymbol = "не число";
        return c;
    }

    [Fact]
    public void Messages_with_numbers_are_written_the_invariant_way_under_a_German_culture()
    {
        CultureInfo saved = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = GermanLike();
        try
        {
            // The culture is in force: this is what an interpolated message would say under it.
            Assert.Equal("6.400.000 0,5 \u22121 %60", $"{6_400_000:N0} {0.5} {-1} {0.6:P0}");

            // Copal.Prune: the calibration limit (N0).
            CalibrationLimitException limit = Assert.Throws<CalibrationLimitException>(() =>
                CalibrationSet.RequireWindows([("wiki", 89_438L)], nsamples: 25_000, seqLen: 256));
            Assert.Contains("6,400,000 tokens", limit.Message, StringComparison.Ordinal);
            Assert.Contains("its 89,438 tokens", limit.Message, StringComparison.Ordinal);

            // Copal.Prune: a weight that is not finite, and a negative shape.
            var magnitude = new MagnitudePruner();
            ArgumentException nan = Assert.Throws<ArgumentException>(() =>
                magnitude.Prune(new float[] { 1f, float.NaN }, 1, 2, null, new SparsityPattern.Unstructured(0.5)));
            Assert.Contains("weight[0, 1] is NaN", nan.Message, StringComparison.Ordinal);
            PruningShapeException shape = Assert.Throws<PruningShapeException>(() =>
                magnitude.Prune(new float[4], -1, 4, null, new SparsityPattern.Unstructured(0.5)));
            Assert.Contains("[-1, 4]", shape.Message, StringComparison.Ordinal);

            // Copal.Tensors: the sparsity advisor's reasons (P0).
            string reason = SparsityAdvisor.Choose(new SparsityStats(0.6, false, false), DType.F32, SparseGemvPath.Avx512).Reason;
            Assert.Contains("sparsity 60 %", reason, StringComparison.Ordinal);
            Assert.DoesNotContain("%6", reason, StringComparison.Ordinal);

            // Copal.Model: config.json's numbers.
            const string config = """
                {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5,
                 "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 512, "max_position_embeddings": 512, "rms_norm_eps": -0.25}
                """;
            ModelConfigException eps = Assert.Throws<ModelConfigException>(() => LlamaConfig.Parse(config, "config.json"));
            Assert.Contains("found -0.25", eps.Message, StringComparison.Ordinal);
            ModelConfigException layers = Assert.Throws<ModelConfigException>(() =>
                LlamaConfig.Parse(config.Replace("\"num_hidden_layers\": 5", "\"num_hidden_layers\": -3", StringComparison.Ordinal), "config.json"));
            Assert.Contains("found -3", layers.Message, StringComparison.Ordinal);
            LlamaConfig scaled = LlamaConfig.Parse(config.Replace("-0.25", "0.000001", StringComparison.Ordinal).TrimEnd().TrimEnd('}')
                + """, "rope_scaling": {"rope_type": "linear", "factor": 2.5}}""", "config.json");
            Assert.Contains("×2.5)", scaled.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            CultureInfo.CurrentCulture = saved;
        }
    }
}
