using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Backends.Ilgpu;
using Copal.Tensors.Tests.Kernels;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// <c>ilgpu-cpu</c>'s device memory is this process's. ILGPU's CPU accelerator allocated past what the host had
/// (Linux overcommits), and zeroing the buffer then got the process ended by the out-of-memory killer with no
/// message: a 2 GiB buffer in a 1.2 GB cgroup ended the test host, though the backend reported 900 MB of memory.
/// Now such a request is refused before it is made, as on the <c>cpu</c> backend, in the device's own words.
/// </summary>
public sealed class IlgpuCpuHostMemoryTests(IlgpuCpuFixture fixture) : IClassFixture<IlgpuCpuFixture>
{
    private static readonly long Reserve = HostBufferFit.ReserveBytes(HostMemory.LimitBytes);

    private IlgpuBackend Backend => Assert.IsType<IlgpuBackend>(fixture.Backend);

    [Fact]
    public void A_buffer_past_the_host_memory_available_is_refused_naming_the_device_and_the_memory_available()
    {
        Assert.NotNull(Backend.HostFit); // set when the CPU accelerator's backend is created
        // 2 MiB free beyond the reserve: a buffer of 4 MiB does not fit, one of 1.5 MiB does.
        Backend.HostFit = new HostBufferFit { AvailableMemory = () => Reserve + (2L << 20) };
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => Backend.Allocate(1L << 20));
        Assert.StartsWith($"ilgpu-cpu device '{Backend.Info.DeviceName}' is out of memory: 4.0 MiB for a buffer of 1048576 floats did not fit (the device has ",
            e.Message, StringComparison.Ordinal);
        Assert.EndsWith($"; {ByteSize.Format(Reserve + (2L << 20))} of the host's memory available now, {ByteSize.Format(Reserve)} of it kept free)",
            e.Message, StringComparison.Ordinal);
        // Not the host's own refusal: on this device the cpu backend, which maps the weights, is a remedy.
        Assert.False(e.OnHost);
        using DeviceBuffer fits = Backend.Allocate(3L << 17);
        Assert.Equal(3L << 17, fits.Length);
    }

    [Fact]
    public unsafe void A_weight_past_the_host_memory_available_is_refused_naming_the_weight()
    {
        using var matrix = new StoredMatrix(DType.BF16, 1024, 1024, seed: 3); // 2 MiB
        var view = new TensorView("model.layers.0.mlp.up_proj.weight", DType.BF16, [1024, 1024], matrix.Data, matrix.Matrix.ByteLength);
        Backend.HostFit = new HostBufferFit { AvailableMemory = () => Reserve + (1L << 20) };
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => Backend.LoadWeight(view));
        Assert.Contains("2.0 MiB for weight 'model.layers.0.mlp.up_proj.weight' did not fit", e.Message, StringComparison.Ordinal);
        // A weight is what did not fit: a shorter context (the commands' general advice) frees none of it.
        Assert.Equal(DeviceOutOfMemoryException.WeightsRemedy, e.Remedy);

        Backend.HostFit = new HostBufferFit { AvailableMemory = () => Reserve + (4L << 20) };
        using DeviceWeight loaded = Backend.LoadWeight(view);
        Assert.Equal(1024, loaded.Rows);
    }

    /// <summary>
    /// A norm's vector and a compressed weight are weights too: their refusal named "a buffer of N floats" (the
    /// vector) and gave the commands' general advice of a shorter context, which frees no weight.
    /// </summary>
    [Fact]
    public unsafe void A_vector_past_the_host_memory_available_is_refused_naming_the_tensor_with_the_weights_remedy()
    {
        var values = new float[512 << 10]; // 2 MiB
        fixed (float* data = values)
        {
            var view = new TensorView("model.norm.weight", DType.F32, [values.Length], (byte*)data, values.Length * sizeof(float));
            Backend.HostFit = new HostBufferFit { AvailableMemory = () => Reserve + (1L << 20) };
            var e = Assert.Throws<DeviceOutOfMemoryException>(() => Backend.LoadVector(view));
            Assert.Contains("2.0 MiB for weight 'model.norm.weight' did not fit", e.Message, StringComparison.Ordinal);
            Assert.Equal(DeviceOutOfMemoryException.WeightsRemedy, e.Remedy);
        }
    }

    [Fact]
    public void A_compressed_weight_past_the_host_memory_available_is_refused_with_the_weights_remedy()
    {
        var dense = new float[1024 * 1024];
        for (int i = 0; i < dense.Length; i += 2)
        {
            dense[i] = 1 + (i % 7); // 2 of each 4 kept: 2 MiB of values
        }
        Backend.HostFit = new HostBufferFit { AvailableMemory = () => Reserve + (1L << 20) };
        var e = Assert.Throws<DeviceOutOfMemoryException>(() =>
            ((ISparseWeightLoader)Backend).LoadSparseWeight(Copal.Tensors.Sparse.NMSparseMatrix.FromDense("model.layers.0.mlp.up_proj.weight", dense, 1024, 1024, 2, 4)));
        Assert.Contains("model.layers.0.mlp.up_proj.weight", e.Message, StringComparison.Ordinal);
        Assert.Equal(DeviceOutOfMemoryException.WeightsRemedy, e.Remedy);
    }
}
