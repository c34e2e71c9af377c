using Copal.Tensors.Backends.Ilgpu;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// A CUDA device's nominal memory rate from the clock and bus width its driver reports, against NVIDIA's published
/// rates for the values those GPUs report (`deviceQuery`).
/// </summary>
public sealed class NominalMemoryRateTests
{
    [Theory]
    [InlineData(2619, 5120, 3.35e12)] // H100 SXM: 3.35 TB/s
    [InlineData(1215, 5120, 1.555e12)] // A100 40 GB: 1,555 GB/s
    public void Clock_and_bus_width_give_the_published_rate(int memoryClockMHz, int busWidthBits, double published)
    {
        double? rate = IlgpuDevice.DoubleDataRate(memoryClockMHz, busWidthBits);
        Assert.NotNull(rate);
        Assert.InRange(rate.Value / published, 0.995, 1.005);
    }

    [Theory]
    [InlineData(0, 5120)]
    [InlineData(2619, 0)]
    public void A_value_the_driver_does_not_report_gives_no_rate(int memoryClockMHz, int busWidthBits) =>
        Assert.Null(IlgpuDevice.DoubleDataRate(memoryClockMHz, busWidthBits));
}
