using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cuda;
using Copal.Tensors.Backends.Cuda.Interop;
using Copal.Tensors.Backends.Gpu;

namespace Copal.Tensors.Tests.Backends;

public class CudaProbeTests
{
    [Fact]
    public void Probing_never_throws_and_explains_an_absent_driver()
    {
        (IReadOnlyList<CudaDevice> devices, string? error) = CudaDevice.Probe();
        if (devices.Count == 0)
        {
            Assert.False(string.IsNullOrWhiteSpace(error));
        }
        if (CudaApi.Instance is null)
        {
            Assert.Contains("libcuda", CudaApi.LoadError, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Without_a_device_the_cuda_spec_fails_with_a_typed_error_naming_what_exists()
    {
        if (CudaDevice.Probe().Devices.Count > 0)
        {
            return;   // a real device: covered by CudaBackendOpsTests
        }
        CudaException e = Assert.Throws<CudaException>(() => BackendFactory.Create("cuda"));
        Assert.Contains(CudaApi.Instance is null ? "not available" : "does not exist", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_launch_argument_layout_is_eight_bytes_per_slot_with_ints_in_the_low_half()
    {
        Assert.Equal(8, KernelArg.Pointer(0x1122334455667788).Size);
        Assert.Equal(0xFFFFFFFFul, KernelArg.Int(-1).Bits);   // zero-extended: the high half of the slot is unused
        Assert.Equal(4, KernelArg.Float(1.5f).Size);
        Assert.Equal(BitConverter.SingleToUInt32Bits(1.5f), (uint)KernelArg.Float(1.5f).Bits);
    }
}
