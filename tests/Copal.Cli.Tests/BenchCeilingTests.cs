using System.Text.Json;
using Copal.Cli.Commands;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// What <c>copal bench</c> sets decode against. A device (a GPU, ILGPU's CPU accelerator) decodes from its own
/// memory, so the ceiling is its own read rate, measured on it, and its memory's nominal rate where the driver gives
/// one; the host's streaming read and the checkpoint's mapping are the CPU's ceilings only.
/// </summary>
public sealed class BenchCeilingTests
{
    [Fact]
    public void A_device_sets_decode_against_its_own_read_rate_and_its_nominal_rate()
    {
        ModelBenchResult r = BenchModel.Run(TestData.Stories260K, new FakeDevice(), prefill: 8, decode: 3, repeat: 1, quiet: true);
        Assert.Equal("device", r.BandwidthSource);
        Assert.Equal("device", r.Weights);
        Assert.Equal(FakeDevice.ReadGBs, r.BandwidthGBs);
        Assert.Equal(FakeDevice.ReadGBs * 1e9 / r.WeightBytesPerToken, r.DecodeLimitTokensPerSecond, 1e-9);
        Assert.Equal(FakeDevice.NominalGBs, r.NominalBandwidthGBs);
        Assert.Equal(r.DecodeTokensPerSecond / (FakeDevice.NominalGBs * 1e9 / r.WeightBytesPerToken), r.DecodeRatioNominal!.Value, 1e-9);
        Assert.True(double.IsNaN(r.MappedBandwidthGBs));
        Assert.Contains("the weights are in the fake-gpu device's memory", r.NotMeasured!["mapped_bandwidth_g_bs"], StringComparison.Ordinal);
    }

    [Fact]
    public void On_ilgpu_cpu_the_json_gives_the_device_read_and_no_mapped_rate()
    {
        JsonElement r = BenchRuns.Json("ilgpu-cpu");
        Assert.Equal("device", r.GetProperty("bandwidth_source").GetString());
        Assert.Equal("device", r.GetProperty("weights").GetString());
        Assert.True(r.GetProperty("bandwidth_g_bs").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, r.GetProperty("nominal_bandwidth_g_bs").ValueKind); // its "memory" is the host's, with no specified rate
        Assert.Equal(JsonValueKind.Null, r.GetProperty("mapped_bandwidth_g_bs").ValueKind);
        Assert.Contains("device's memory, not mapped", r.GetProperty("not_measured").GetProperty("mapped_bandwidth_g_bs").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void On_the_cpu_the_ceiling_is_the_hosts_streaming_read()
    {
        JsonElement r = BenchRuns.Json("cpu");
        Assert.Equal("host", r.GetProperty("bandwidth_source").GetString());
        Assert.NotEqual("device", r.GetProperty("weights").GetString());
        Assert.True(r.GetProperty("bandwidth_g_bs").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, r.GetProperty("nominal_bandwidth_g_bs").ValueKind);
    }


    /// <summary>The CPU backend presented as a device with a memory probe and a nominal rate.</summary>
    private sealed class FakeDevice() : CpuBackend(1), IBackend, IDeviceMemoryProbe
    {
        public const double ReadGBs = 40, NominalGBs = 50;

        public new BackendInfo Info => base.Info with { Kind = "fake-gpu", NominalMemoryBytesPerSecond = NominalGBs * 1e9 };

        public double MeasureReadBytesPerSecond(long bytes, int rounds, CancellationToken cancellationToken = default) => ReadGBs * 1e9;
    }
}
