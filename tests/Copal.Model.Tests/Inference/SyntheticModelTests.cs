using Copal.Tensors.Backends.Cpu;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// What the tests of an architecture's synthetic models share: a temporary folder for the checkpoints they write,
/// deleted after each test; the CPU backend they are checked on; and a prompt of the class's length.
/// </summary>
public abstract class SyntheticModelTests(string name, int length) : IDisposable
{
    protected string Temp { get; } = Directory.CreateTempSubdirectory($"copal-{name}-").FullName;

    protected CpuBackend Backend { get; } = new();

    protected int[] Prompt { get; } = PositionLogits.Prompt(length);

    public void Dispose()
    {
        Backend.Dispose();
        Directory.Delete(Temp, recursive: true);
        GC.SuppressFinalize(this);
    }
}
