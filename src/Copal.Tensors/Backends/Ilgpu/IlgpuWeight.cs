using ILGPU;
using ILGPU.Runtime;
using Copal.Tensors.Backends.Ilgpu.Kernels;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// A dense weight matrix in device memory in its stored dtype: f32 elements, or the raw 16-bit words of F16 and
/// BF16, which the kernels convert in registers.
/// </summary>
internal sealed class IlgpuWeight : DeviceWeight
{
    private readonly MemoryBuffer? _f32;
    private readonly MemoryBuffer? _words;

    internal IlgpuWeight(IlgpuBackend owner, MemoryBuffer1D<float, Stride1D.Dense> values, string name, int rows, int cols)
        : base(name, DType.F32, rows, cols)
    {
        Owner = owner;
        _f32 = values;
        F32 = F32Weights.Over(values.View.AsContiguous());
    }

    internal IlgpuWeight(IlgpuBackend owner, MemoryBuffer1D<ushort, Stride1D.Dense> words, string name, DType dtype, int rows, int cols)
        : base(name, dtype, rows, cols)
    {
        Owner = owner;
        _words = words;
        ArrayView<ushort> view = words.View.AsContiguous();
        Bf16 = Bf16Weights.Over(view);
        F16 = F16Weights.Over(view);
    }

    internal IlgpuBackend Owner { get; }

    internal F32Weights F32 { get; }

    internal Bf16Weights Bf16 { get; }

    internal F16Weights F16 { get; }

    /// <summary>The weight as the fused decode kernels read it (<see cref="IRowDot"/>), per dtype.</summary>
    internal DenseRows<F32Weights> F32Rows => new(F32, Cols);

    internal DenseRows<Bf16Weights> Bf16Rows => new(Bf16, Cols);

    internal DenseRows<F16Weights> F16Rows => new(F16, Cols);

    /// <inheritdoc/>
    protected override void Release()
    {
        _f32?.Dispose();
        _words?.Dispose();
    }
}
