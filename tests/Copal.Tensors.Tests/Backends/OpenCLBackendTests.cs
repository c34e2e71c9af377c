using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Gpu;
using Copal.Tensors.Backends.OpenCL;
using Copal.Tensors.Backends.OpenCL.Interop;

namespace Copal.Tensors.Tests.Backends;

/// <summary>OpenCL specifics: the program cache, build failures, error messages.</summary>
public sealed class OpenCLBackendTests : IDisposable
{
    private readonly string _cache = Path.Combine(Path.GetTempPath(), "copal-cl-cache-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_cache))
        {
            Directory.Delete(_cache, recursive: true);
        }
    }

    [Fact]
    public void A_failed_call_names_the_call_and_the_cl_error()
    {
        var e = Assert.Throws<OpenCLException>(() => OpenCLApi.ThrowIfFailed(-30, "api.clSetKernelArg(kernel, 3, 4, &value)"));
        Assert.Equal("clSetKernelArg failed with CL_INVALID_VALUE (-30)", e.Message);
        Assert.Equal(-30, e.Status);
        Assert.Equal("CL error -999", OpenCLErrors.Name(-999));
    }

    [OpenCLFact]
    public void Kernels_are_cached_on_disk_and_a_corrupt_entry_is_rebuilt()
    {
        var log = new List<string>();
        using (var first = new OpenCLBackend(0, log.Add, _cache))
        {
            Assert.Equal("opencl", first.Info.Kind);
        }
        string entry = Assert.Single(Directory.GetFiles(_cache, "*.clbin"));
        byte[] good = File.ReadAllBytes(entry);

        using (new OpenCLBackend(0, log.Add, _cache))
        {
        }
        Assert.Empty(log);   // the second start read the cache without complaint

        File.WriteAllBytes(entry, good[..(good.Length / 2)]);   // a truncated write
        using (var rebuilt = new OpenCLBackend(0, log.Add, _cache))
        {
            using DeviceBuffer a = rebuilt.Allocate(3);
            rebuilt.Upload([1f, 2f, 3f], a);
            rebuilt.Add(a, a, a, 3);
            var result = new float[3];
            rebuilt.Download(a, result);
            Assert.Equal([2f, 4f, 6f], result);
        }
        Assert.Contains(log, line => line.Contains("corrupt", StringComparison.Ordinal));
        Assert.Equal(good, File.ReadAllBytes(entry));
    }

    [OpenCLFact]
    public void A_cache_entry_the_driver_rejects_is_rebuilt()
    {
        var cache = new OpenCLProgramCache(_cache);
        var log = new List<string>();
        using (new OpenCLBackend(0, log.Add, _cache))
        {
        }
        string key = Path.GetFileNameWithoutExtension(Assert.Single(Directory.GetFiles(_cache, "*.clbin")));
        cache.Write(key, "not a program binary"u8, log.Add);   // intact checksum, garbage content
        using (new OpenCLBackend(0, log.Add, _cache))
        {
        }
        Assert.Contains(log, line => line.Contains("rejected", StringComparison.Ordinal));
        Assert.NotNull(cache.TryRead(key, log.Add));
    }

    [OpenCLFact]
    public void A_build_failure_throws_with_the_build_log()
    {
        OpenCLApi api = OpenCLApi.Require();
        OpenCLDevice device = OpenCLDevice.Enumerate()[0];
        using var backend = new OpenCLBackend(0, null, _cache);
        string broken = KernelSource.Read(KernelSource.OpenCLPrelude) + "\nKERNEL void broken(GLOBAL float* x) { x[0] = no_such_name; }\n";
        var e = Assert.Throws<OpenCLException>(() => OpenCLProgram.Build(api, backend.Context, device, broken, cache: null, log: null));
        Assert.Equal(OpenCLConstants.BuildProgramFailure, e.Status);
        Assert.Contains("no_such_name", e.Message, StringComparison.Ordinal);
    }

    [OpenCLFact]
    public void A_missing_device_index_lists_the_devices_that_exist()
    {
        var e = Assert.Throws<OpenCLException>(() => BackendFactory.Create("opencl:99"));
        Assert.Contains("opencl:0", e.Message, StringComparison.Ordinal);
    }
}
