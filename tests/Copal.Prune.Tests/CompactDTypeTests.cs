using System.Runtime.InteropServices;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests;

/// <summary>
/// The compact formats hold F32, BF16 and F16 values: a model with a linear in another dtype (here F64) is refused by
/// that linear's name and dtype before any pass over the weights, and nothing is written. (The F16 model this test
/// used to make now compacts: <see cref="F16SparseExecutionTests"/>.)
/// </summary>
public sealed class CompactDTypeTests : IDisposable
{
    private readonly TempDir _root = new("copal-compact-dtype-");

    public void Dispose() => _root.Dispose();

    [Fact]
    public void A_model_with_a_linear_in_a_dtype_the_formats_do_not_hold_is_refused_naming_it()
    {
        const string name = "model.layers.0.self_attn.q_proj.weight";
        string model = WithF64(name);
        const string why = $"'{name}' is F64; compact storage holds F32, BF16 or F16 values only, so this model stays dense";
        Assert.Equal($"{model}: {why}", Assert.Throws<CompactFormatException>(() => CheckpointCompactor.RequireCompactableDType(model)).Message);
        string output = _root.File("compact");
        Assert.Equal($"{model}: {why}",
            Assert.Throws<CompactFormatException>(() => CheckpointCompactor.Compact(model, output, CompactFormat.Auto, overwrite: false)).Message);
        Assert.False(Directory.Exists(output));
    }

    /// <summary>stories260K with <paramref name="linear"/> stored F64 (the same values, widened).</summary>
    private unsafe string WithF64(string linear)
    {
        string folder = Directory.CreateDirectory(_root.File("f64")).FullName;
        foreach (string file in Directory.GetFiles(TestData.Stories260K).Where(f => Path.GetFileName(f) != SafetensorsCheckpoint.SingleFileName))
        {
            File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
        }
        using var source = SafetensorsCheckpoint.Open(TestData.Stories260K);
        TensorView f32 = source.Tensors.Single(t => t.Name == linear);
        double[] wide = f32.AsSpan<float>().ToArray().Select(v => (double)v).ToArray();
        fixed (double* p = wide)
        {
            var widened = new TensorView(linear, DType.F64, f32.Shape, (byte*)p, wide.Length * 8L);
            var views = source.Tensors.Select(t => t.Name == linear ? widened : t).ToList();
            SafetensorsSaver.Save(Path.Combine(folder, SafetensorsCheckpoint.SingleFileName), views, source.MergedMetadata());
        }
        return folder;
    }
}
