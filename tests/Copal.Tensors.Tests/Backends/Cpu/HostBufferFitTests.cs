using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Tests.Kernels;

namespace Copal.Tensors.Tests.Backends.Cpu;

/// <summary>
/// A CPU buffer past the host memory available is refused with a <see cref="DeviceOutOfMemoryException"/> that says
/// so, before it is made (and zeroed, every page touched, which past the memory there is ends the process).
/// </summary>
public sealed unsafe class HostBufferFitTests
{
    private const string WeightsMappedInstead = "--mmap on maps the weights instead of copying them, which needs no such room";

    private static readonly long Reserve = HostBufferFit.ReserveBytes(HostMemory.LimitBytes);

    [Fact]
    public void A_buffer_that_would_eat_into_the_reserve_is_refused_and_named()
    {
        // 2 MiB free beyond the reserve: a buffer of 4 MiB does not fit.
        using var backend = new CpuBackend(threads: 1) { BufferFit = new HostBufferFit { AvailableMemory = () => Reserve + (2L << 20) } };
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => backend.Allocate(1L << 20));
        Assert.True(e.OnHost);
        Assert.StartsWith("host memory is short: 4.0 MiB for a buffer of 1048576 floats did not fit (", e.Message, StringComparison.Ordinal);
        Assert.Contains($"{ByteSize.Format(Reserve)} of it kept free", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_buffer_that_leaves_the_reserve_is_made()
    {
        using var backend = new CpuBackend(threads: 1) { BufferFit = new HostBufferFit { AvailableMemory = () => Reserve + (2L << 20) } };
        using DeviceBuffer b = backend.Allocate(3L << 17); // 1.5 MiB, checked, within the 2 MiB beyond the reserve
        Assert.Equal(3L << 17, b.Length);
    }

    [Fact]
    public void Small_buffers_are_not_checked_and_the_memory_is_read_again_for_each_large_one()
    {
        int reads = 0;
        using var backend = new CpuBackend(threads: 1) { BufferFit = new HostBufferFit { AvailableMemory = () => { reads++; return 0; } } };
        using DeviceBuffer small = backend.Allocate((HostBufferFit.DefaultCheckedBytes / sizeof(float)) - 1);
        Assert.Equal(0, reads);
        Assert.Throws<DeviceOutOfMemoryException>(() => backend.Allocate(HostBufferFit.DefaultCheckedBytes / sizeof(float)));
        Assert.Throws<DeviceOutOfMemoryException>(() => backend.Allocate(HostBufferFit.DefaultCheckedBytes / sizeof(float)));
        Assert.Equal(2, reads);
    }

    /// <summary>
    /// A model read into memory (<c>--mmap off</c>) copies each weight into native memory that is written at once:
    /// past the memory there is, that copy was not checked and the kernel's out-of-memory killer ended the load with
    /// no message. It is checked as a buffer is, and the refusal names the tensor.
    /// </summary>
    [Theory]
    [InlineData(3, 512)]     // row-major copy: fewer rows than a panel
    [InlineData(64, 512)]    // panel-packed where the decode kernels gain from panels
    public void A_weight_copy_that_would_eat_into_the_reserve_is_refused_and_named(int rows, int cols)
    {
        using var matrix = new StoredMatrix(DType.F32, rows, cols, seed: 1);
        var view = new TensorView("model.layers.0.mlp.up_proj.weight", DType.F32, [rows, cols], matrix.Data, matrix.Matrix.ByteLength);
        using var backend = new CpuBackend(threads: 1)
        {
            BufferFit = new HostBufferFit { CheckedBytes = 1024, AvailableMemory = () => Reserve + (view.ByteLength / 2) },
        };
        var e = Assert.Throws<DeviceOutOfMemoryException>(() => backend.LoadWeightCopy(view));
        Assert.True(e.OnHost);
        Assert.StartsWith($"host memory is short: {ByteSize.Format(view.ByteLength)} for a copy of tensor 'model.layers.0.mlp.up_proj.weight' did not fit (",
            e.Message, StringComparison.Ordinal);
        // A shorter context frees none of it; mapping the weights needs no such room.
        Assert.Equal(WeightsMappedInstead, e.Remedy);

        using var roomy = new CpuBackend(threads: 1)
        {
            BufferFit = new HostBufferFit { CheckedBytes = 1024, AvailableMemory = () => Reserve + (2 * view.ByteLength) },
        };
        using DeviceWeight copy = roomy.LoadWeightCopy(view);
        Assert.Equal(rows, copy.Rows);
    }
}
