using Copal.Tensors.Kernels;

namespace Copal.Tensors.Backends.Cpu;

/// <summary>
/// A zero-copy view of a weight tensor in its stored dtype: the CPU kernels read the checkpoint's memory
/// directly, converting BF16/F16 in registers. The view's memory must outlive this object.
/// </summary>
public class CpuWeight : DeviceWeight
{
    /// <summary>Wraps a 2-D tensor [out, in] of dtype F32, F16 or BF16.</summary>
    public CpuWeight(TensorView view)
        : this(view.Name, WeightMatrix.FromView(view))
    {
    }

    /// <summary>Wraps a matrix already described by pointer and dtype.</summary>
    public CpuWeight(string name, WeightMatrix matrix)
        : base(name, matrix.DType, matrix.Rows, matrix.Cols) => Matrix = matrix;

    /// <summary>The pointer, dtype and shape the kernels take.</summary>
    public WeightMatrix Matrix { get; }

    /// <summary>Nothing to free: the memory belongs to the view's owner.</summary>
    protected override void Release()
    {
    }
}
