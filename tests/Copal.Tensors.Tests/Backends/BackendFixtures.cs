using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cuda;
using Copal.Tensors.Backends.OpenCL;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// One backend per test class: compiling the kernels is the slow part (PoCL especially), so it happens once.
/// Created on first use, because xunit builds fixtures even for a class whose tests are all skipped.
/// </summary>
public abstract class BackendFixture : IDisposable
{
    private readonly Lazy<IBackend> _backend;

    protected BackendFixture(Func<IBackend> create) => _backend = new Lazy<IBackend>(create);

    public IBackend Backend => _backend.Value;

    public void Dispose()
    {
        if (_backend.IsValueCreated)
        {
            _backend.Value.Dispose();
        }
        GC.SuppressFinalize(this);
    }
}

/// <summary>OpenCL device 0 (PoCL's CPU device in CI), with the user's kernel cache so reruns skip the compile.</summary>
public sealed class OpenCLFixture() : BackendFixture(() => new OpenCLBackend(0));

/// <summary>CUDA device 0.</summary>
public sealed class CudaFixture() : BackendFixture(() => new CudaBackend(0));
