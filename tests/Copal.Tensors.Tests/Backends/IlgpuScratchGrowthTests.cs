using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Backends.Ilgpu;
using Copal.Tensors.Tests.Kernels;
using Copal.Testing;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// A device scratch buffer that fails to grow leaves none behind: the old one was freed before the new one was
/// asked for, and a later, smaller request must not be given a view of the freed memory.
/// </summary>
public sealed class IlgpuScratchGrowthTests(IlgpuCpuGroupsFixture fixture) : IClassFixture<IlgpuCpuGroupsFixture>
{
    private IlgpuBackend Backend => Assert.IsType<IlgpuBackend>(fixture.Backend);

    [Fact]
    public void Split_attention_after_its_scratch_failed_to_grow_matches_the_cpu()
    {
        HostBufferFit roomy = Backend.HostFit!;
        float[] small = Decode(Backend, keys: 130), expected = Decode(new CpuBackend(1), keys: 130);
        Tolerances.AssertNmse(small, expected, what: "split attention before");
        // Growing the scratch for more keys is refused: no memory at all for anything checked.
        Backend.HostFit = new HostBufferFit { CheckedBytes = 0, AvailableMemory = () => 0 };
        Assert.Throws<DeviceOutOfMemoryException>(() => Decode(Backend, keys: 700, allocateFirst: true));
        Backend.HostFit = roomy;
        Tolerances.AssertNmse(Decode(Backend, keys: 130), expected, what: "split attention after the refused growth");
    }

    [Fact]
    public unsafe void Embedding_after_its_token_scratch_failed_to_grow_gives_the_table_rows()
    {
        const int Vocab = 11, Dim = 37;
        using var table = new StoredMatrix(DType.F32, Vocab, Dim, seed: 5);
        var view = new TensorView("embed", DType.F32, [Vocab, Dim], table.Data, (long)Vocab * Dim * sizeof(float));
        int[] few = [3, 0, 10], many = [.. Enumerable.Range(0, 300).Select(i => i % Vocab)];
        HostBufferFit roomy = Backend.HostFit!;
        using DeviceWeight weight = Backend.LoadWeight(view);
        using DeviceBuffer output = Backend.Allocate(many.Length * Dim);
        Backend.Embedding(weight, few, output); // the token scratch at its first size
        Backend.HostFit = new HostBufferFit { CheckedBytes = 0, AvailableMemory = () => 0 };
        Assert.Throws<DeviceOutOfMemoryException>(() => Backend.Embedding(weight, many, output));
        Backend.HostFit = roomy;
        Backend.Embedding(weight, few, output);
        var actual = new float[few.Length * Dim];
        Backend.Download(output, actual);
        Assert.Equal(few.SelectMany(t => table.Values.Skip(t * Dim).Take(Dim)), actual);
    }

    /// <summary>One decode row over <paramref name="keys"/> keys, 8 heads of 16 (split over groups on this plan).</summary>
    private static float[] Decode(IBackend backend, int keys, bool allocateFirst = false)
    {
        const int Heads = 8, KvHeads = 2, HeadDim = 16;
        var shape = new AttentionShape(1, keys - 1, Heads, KvHeads, HeadDim, 0.25f);
        float[] q = Rand.Floats(Heads * HeadDim, 1, 2f), k = Rand.Floats(keys * KvHeads * HeadDim, 2, 2f), v = Rand.Floats(keys * KvHeads * HeadDim, 3);
        HostBufferFit? fit = (backend as IlgpuBackend)?.HostFit;
        if (allocateFirst && backend is IlgpuBackend ilgpu)
        {
            // The inputs' buffers are made with room; only the scratch meets the refusing fit.
            ilgpu.HostFit = null;
        }
        using DeviceBuffer qb = backend.Allocate(q.Length), kb = backend.Allocate(k.Length), vb = backend.Allocate(v.Length), ob = backend.Allocate(q.Length);
        if (allocateFirst && backend is IlgpuBackend again)
        {
            again.HostFit = fit;
        }
        backend.Upload(q, qb);
        backend.Upload(k, kb);
        backend.Upload(v, vb);
        backend.Attention(qb, kb, vb, ob, shape);
        var output = new float[q.Length];
        backend.Download(ob, output);
        return output;
    }
}
