using Copal.Model.Inference;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// What docs/cli.md (--mmap) and <see cref="WeightResidence"/> say of a model whose files change while it runs: a
/// mapped model keeps a deleted file's contents, and a model read into memory reads its files no more, so one truncated
/// in place (which would end a mapped model's process with SIGBUS at its next read) changes nothing. Each on a private
/// copy of stories260K.
/// </summary>
public sealed class RewrittenFilesTests : IDisposable
{
    private readonly CpuBackend _backend = new();

    public void Dispose() => _backend.Dispose();

    private static float[] Logits(LlamaModel model)
    {
        using RunState state = model.CreateState(4);
        model.Forward(state, [1, 200, 300, 400], 0, LogitsMode.Last);
        return model.ReadLogits(state);
    }

    [Fact]
    public void A_mapped_model_runs_on_after_its_weights_file_is_deleted()
    {
        using var copy = new PrivateModelCopy("copal-deleted-");
        using LlamaModel model = LlamaModel.Load(copy.Directory, _backend, SparseLoadMode.Off, residence: WeightResidence.Mapped);
        float[] before = Logits(model);
        string weights = Path.Combine(copy.Directory, "model.safetensors");
        File.Delete(weights);
        // Still mapped: the system keeps the deleted file for the mapping.
        Assert.Contains(File.ReadLines("/proc/self/maps"), line => line.EndsWith(weights + " (deleted)", StringComparison.Ordinal));
        Assert.Equal(before, Logits(model));
    }

    [Fact]
    public void A_model_read_into_memory_runs_on_after_its_weights_file_is_truncated_in_place()
    {
        using var copy = new PrivateModelCopy("copal-truncated-");
        using LlamaModel model = LlamaModel.Load(copy.Directory, _backend, SparseLoadMode.Off, residence: WeightResidence.Memory);
        float[] before = Logits(model);
        using (var file = new FileStream(Path.Combine(copy.Directory, "model.safetensors"), FileMode.Open, FileAccess.Write))
        {
            file.SetLength(0);
        }
        Assert.Equal(before, Logits(model));
    }
}
