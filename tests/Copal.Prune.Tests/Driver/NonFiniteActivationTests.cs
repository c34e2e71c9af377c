using System.Buffers.Binary;
using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// A model loaded with --allow-nonfinite whose weights outside the linears are NaN or Inf: the linears' weights are
/// finite, but the activations the methods weigh them by are not. The run must fail naming the linear, not write a
/// model whose masks were chosen from NaN scores.
/// </summary>
public sealed class NonFiniteActivationTests : IDisposable
{
    private readonly TempDir _temp = new("copal-prune-nonfinite-");

    [Theory]
    [InlineData("wanda", float.NaN, "model.layers.1.input_layernorm.weight", "model.layers.1.self_attn.q_proj.weight")]
    [InlineData("wanda", float.PositiveInfinity, "model.layers.1.post_attention_layernorm.weight", "model.layers.1.mlp.gate_proj.weight")]
    [InlineData("sparsegpt", float.NaN, "model.layers.1.input_layernorm.weight", "model.layers.1.self_attn.q_proj.weight")]
    public void Non_finite_inputs_of_a_linear_fail_the_run_naming_the_linear(string method, float value, string norm, string linear)
    {
        string model = TestData.CopyOfStories260K(_temp.File("model"));
        CheckpointBytes.EditF32Tensor(model, norm, (bytes, start) => BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(checked((int)start + (3 * 4))), value));
        string outDir = _temp.File("out");
        var calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(model), [TestData.Path("text", "tinystories", "calib.txt")], 2, 32, seed: 0);
        using var backend = new CpuBackend();
        var e = Assert.Throws<InvalidDataException>(() => PruneJob.Run(new PruneRequest(model, outDir, PrunerFactory.Create(method),
            new PruneOptions(SparsityPattern.Parse("0.5")), calibration) { AllowNonFinite = true }, backend));
        Assert.Contains($"'{linear}'", e.Message, StringComparison.Ordinal);
        Assert.Contains(float.IsNaN(value) ? "NaN" : "Inf", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(Directory.Exists(outDir));
    }

    public void Dispose() => _temp.Dispose();
}
