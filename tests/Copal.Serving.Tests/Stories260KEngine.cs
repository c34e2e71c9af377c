using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// stories260K's engine on a CPU backend of its own, for one test (one request decoded at a time, unless other options
/// are given). Disposing it frees the engine, then the backend.
/// </summary>
internal sealed class Stories260KEngine : IDisposable
{
    private readonly CpuBackend _backend = new();

    public Stories260KEngine()
        : this(new EngineOptions { Parallel = 1 })
    {
    }

    public Stories260KEngine(EngineOptions options)
    {
        try
        {
            Engine = InferenceEngine.Load(TestData.Stories260K, _backend, options);
        }
        catch
        {
            _backend.Dispose();
            throw;
        }
    }

    public InferenceEngine Engine { get; }

    public void Dispose()
    {
        Engine.Dispose();
        _backend.Dispose();
    }
}
