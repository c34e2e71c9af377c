using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Ilgpu;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// A buffer belongs to the ILGPU backend that allocated it: another backend of the same kind (its own accelerator and
/// context) refuses it, naming the operation, rather than copy through memory it does not own.
/// </summary>
public sealed class IlgpuBufferOwnerTests
{
    [Fact]
    public void A_buffer_of_another_ilgpu_backend_of_the_same_kind_is_refused()
    {
        using IlgpuBackend first = IlgpuDevices.OpenCpu(), second = IlgpuDevices.OpenCpu();
        using DeviceBuffer buffer = first.Allocate(4);
        var upload = Assert.Throws<ArgumentException>(() => second.Upload([1f, 2f], buffer));
        Assert.Equal("Upload: destination was not allocated by this ilgpu-cpu backend (Parameter 'destination')", upload.Message);
        var download = Assert.Throws<ArgumentException>(() => second.Download(buffer, new float[4]));
        Assert.Equal("Download: source was not allocated by this ilgpu-cpu backend (Parameter 'source')", download.Message);
    }
}
