using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Ilgpu;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// One backend per test class: compiling the kernels is the slow part, so it happens once.
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

/// <summary>ILGPU's CPU accelerator as <c>--device ilgpu-cpu</c> gives it: one-thread groups.</summary>
public sealed class IlgpuCpuFixture() : BackendFixture(() => IlgpuDevices.OpenCpu());

/// <summary>
/// ILGPU's CPU accelerator with 16-thread groups of 4-lane warps, so the shared-memory tiles, barriers, warp
/// shuffles and group reductions that a GPU runs are exercised here too.
/// </summary>
public sealed class IlgpuCpuGroupsFixture() : BackendFixture(() => IlgpuDevices.OpenCpu(threadsPerGroup: 16));

/// <summary>The first CUDA device ILGPU accepts (where none is but one is required, "cuda" fails with ILGPU's reason).</summary>
public sealed class CudaFixture() : BackendFixture(() => BackendFactory.Create(BackendFactory.FindUsable("cuda", out _) ?? "cuda"));

/// <summary>The first OpenCL device ILGPU accepts (OpenCL C 2.0 with a generic address space), like <see cref="CudaFixture"/>.</summary>
public sealed class OpenCLFixture() : BackendFixture(() => BackendFactory.Create(BackendFactory.FindUsable("opencl", out _) ?? "opencl"));

/// <summary>
/// ILGPU's CPU accelerator with a GPU's geometry: 256-thread groups of 32-lane warps, as <c>LaunchPlan</c>
/// launches on CUDA. Whatever depends on the group or warp size runs as on a GPU: a warp (32 lanes) per output
/// feature in the GEMV and sparse kernels, 16 × 16 GEMM threads that each stage one quad a tile, 256-key attention
/// blocks, 32-lane shuffles and group reductions of eight warps. Every group thread is an OS thread.
/// </summary>
public sealed class IlgpuCpuGpuGroupsFixture() : BackendFixture(() => IlgpuDevices.OpenCpu(threadsPerGroup: 256, threadsPerWarp: 32));
