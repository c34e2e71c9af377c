using Copal.Tensors.Backends;
using Copal.Tensors.Tests.Kernels;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// The matmuls refuse an output that is their input, and the fused ones outputs that are one buffer: each output row
/// reads a whole input row, and on a GPU the groups writing one buffer run while others still read it, so the result
/// would depend on timing. Checked on the CPU and on ILGPU's CPU accelerator, before any kernel runs.
/// </summary>
public sealed class AliasedBuffersTests
{
    private const int Outs = 8, Cols = 8;

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public unsafe void Matmuls_refuse_aliased_buffers(string spec)
    {
        using IBackend b = BackendFactory.Create(spec);
        using var stored = new StoredMatrix(DType.F32, Outs, Cols, seed: 3);
        using DeviceWeight w = b.LoadWeight(new TensorView("w", DType.F32, [Outs, Cols], stored.Data, (long)Outs * Cols * sizeof(float)));
        using DeviceBuffer x = b.Allocate(Cols), y = b.Allocate(Outs), z = b.Allocate(Outs), u = b.Allocate(Outs);

        Assert.Contains("apart from the input x", Assert.Throws<ArgumentException>(() => b.MatMul(x, w, x, 1)).Message, StringComparison.Ordinal);
        Assert.Contains("four buffers", Assert.Throws<ArgumentException>(() => b.MatMulTriple(x, w, x, w, z, w, u, 1)).Message, StringComparison.Ordinal);
        Assert.Contains("four buffers", Assert.Throws<ArgumentException>(() => b.MatMulTriple(x, w, y, w, y, w, u, 1)).Message, StringComparison.Ordinal);
        Assert.Contains("three buffers", Assert.Throws<ArgumentException>(() => b.MatMulSiluGate(x, w, w, x, u, 1)).Message, StringComparison.Ordinal);

        b.MatMulTriple(x, w, y, w, z, w, u, 1); // four buffers: accepted
    }
}
