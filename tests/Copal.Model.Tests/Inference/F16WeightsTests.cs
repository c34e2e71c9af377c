using System.Buffers.Binary;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// A model's weights checked finite at load are marked so, and the CPU kernels then convert F16 without handling
/// Inf and NaN. The marked weights must compute exactly what the unmarked ones do, and weights loaded with
/// non-finite values allowed must not be marked: their Inf must reach the logits, not come out as 2^16.
/// </summary>
public sealed class F16WeightsTests : IDisposable
{
    private const string Tensor = "model.layers.0.mlp.down_proj.weight";
    private readonly TempDir _temp = new("copal-f16-");
    private readonly CpuBackend _backend = new();
    private readonly string _model;

    public F16WeightsTests()
    {
        _model = _temp.File("model");
        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny"), _model, DType.F16, seed: 11, tokenizerDirectory: null);
    }

    public void Dispose()
    {
        _backend.Dispose();
        _temp.Dispose();
    }

    /// <summary>The logits of a prompt's prefill and of each decode step after it, in order.</summary>
    private List<float[]> Steps(LlamaModel model)
    {
        int[] prompt = [1, 300, 301, 302, 7];
        int[] next = [8, 9, 10, 11];
        using RunState state = model.CreateState(prompt.Length, prompt.Length + next.Length);
        var logits = new List<float[]>();
        model.Forward(state, prompt, 0, LogitsMode.Last);
        logits.Add(model.ReadLogits(state));
        for (int t = 0; t < next.Length; t++)
        {
            model.Forward(state, next.AsSpan(t, 1), prompt.Length + t, LogitsMode.Last);
            logits.Add(model.ReadLogits(state));
        }
        return logits;
    }

    /// <summary>Mapped: the kernels read the checkpoint's pages; in memory: the CPU's own copies (panels where Vector512 is hardware).</summary>
    public static TheoryData<WeightResidence> Residences => new(WeightResidence.Mapped, WeightResidence.Memory);

    [Theory]
    [MemberData(nameof(Residences))]
    public void Weights_checked_finite_give_the_bits_of_the_unchecked_conversion(WeightResidence residence)
    {
        using LlamaModel checkedFinite = LlamaModel.Load(_model, _backend, SparseLoadMode.Off, residence: residence);
        using LlamaModel unchecked_ = LlamaModel.Load(_model, _backend, SparseLoadMode.Off, allowNonFinite: true, residence: residence);
        // Every linear of the checked model is marked, none of the other's: the two below ran different conversions.
        foreach (DecoderLayerWeights layer in checkedFinite.Weights.Layers)
        {
            Assert.True(((CpuWeight)layer[LinearId.DownProj]).Matrix.FiniteVerified && ((CpuWeight)layer[LinearId.QProj]).Matrix.FiniteVerified);
        }
        Assert.True(((CpuWeight)checkedFinite.Weights.LmHead).Matrix.FiniteVerified);
        Assert.DoesNotContain(unchecked_.Weights.Layers, layer => ((CpuWeight)layer[LinearId.DownProj]).Matrix.FiniteVerified);
        List<float[]> a = Steps(checkedFinite), b = Steps(unchecked_);
        for (int s = 0; s < a.Count; s++)
        {
            Assert.True(a[s].All(float.IsFinite), $"step {s}: non-finite logits from finite weights");
            Assert.Equal(b[s], a[s]);
        }
    }

    [Theory]
    [MemberData(nameof(Residences))]
    public void Allowed_non_finite_F16_weights_reach_the_logits_of_prefill_and_decode(WeightResidence residence)
    {
        CheckpointBytes.EditTensor(_model, Tensor, "F16", (bytes, start) => BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan((int)start), 0x7C00)); // +Inf
        using LlamaModel model = LlamaModel.Load(_model, _backend, SparseLoadMode.Off, allowNonFinite: true, residence: residence);
        List<float[]> steps = Steps(model);
        for (int s = 0; s < steps.Count; s++)
        {
            Assert.False(steps[s].All(float.IsFinite), $"step {s}: an Inf weight gave finite logits");
        }
    }
}
