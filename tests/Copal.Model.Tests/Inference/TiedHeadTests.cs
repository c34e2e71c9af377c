using Copal.Model.Inference;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// tie_word_embeddings decides whether lm_head is the embedding, as in Hugging Face: a stored lm_head.weight beside a
/// tied config (some exports write one) is not what the model computes with.
/// </summary>
public sealed class TiedHeadTests : IDisposable
{
    private readonly TempDir _temp = new("copal-tied-");

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void A_stored_lm_head_beside_a_tied_config_is_not_used()
    {
        // stories260K ties its embeddings and stores no lm_head; the copy adds an all-zero one.
        CopyWithHead(512, 64);
        using var cpu = new CpuBackend(1);
        using LlamaModel original = LlamaModel.Load(TestData.Stories260K, cpu);
        using LlamaModel copy = LlamaModel.Load(_temp.Path, cpu);
        Assert.True(copy.Weights.Tied);
        int[] tokens = [1, 403, 407, 261, 378];
        float[] Logits(LlamaModel m)
        {
            using RunState state = m.CreateState(tokens.Length, tokens.Length);
            m.Forward(state, tokens, 0, LogitsMode.Last);
            return m.ReadLogits(state);
        }
        float[] expected = Logits(original);
        Assert.Equal(expected, Logits(copy));
        Assert.Contains(expected, x => x != 0f); // the zero head would give all zeros
    }

    [Fact]
    public void A_stored_lm_head_of_another_shape_beside_a_tied_config_is_refused_naming_both_shapes()
    {
        // transformers reports the size mismatch; tying over it would run a model the checkpoint does not describe.
        CopyWithHead(500, 64);
        using var cpu = new CpuBackend(1);
        ModelLoadException e = Assert.Throws<ModelLoadException>(() => LlamaModel.Load(_temp.Path, cpu).Dispose());
        Assert.Contains("'lm_head.weight' has shape [500, 64], expected [512, 64]", e.Message, StringComparison.Ordinal);
    }

    /// <summary>stories260K in the temp folder with an all-zero lm_head.weight of the given shape added.</summary>
    private void CopyWithHead(int rows, int cols)
    {
        foreach (string f in Directory.GetFiles(TestData.Stories260K).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
        {
            File.Copy(f, Path.Combine(_temp.Path, Path.GetFileName(f)));
        }
        using (var source = SafetensorsCheckpoint.Open(TestData.Stories260K))
        {
            var specs = source.Tensors.Select(t => new TensorSpec(t.Name, t.DType, t.Shape)).Append(new TensorSpec("lm_head.weight", DType.F32, [rows, cols])).ToList();
            using var writer = SafetensorsWriter.Create(_temp.File("model.safetensors"), specs);
            foreach (TensorView t in source.Tensors)
            {
                writer.Write(t.Name, t.Bytes);
            }
            writer.Write("lm_head.weight", new byte[rows * cols * sizeof(float)]);
            writer.Commit();
        }
    }
}
