using System.Runtime.InteropServices;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Backends.Cpu;

/// <summary>
/// A weight in its stored dtype for the CPU kernels, which convert BF16/F16 in registers: a zero-copy view of the
/// checkpoint's memory, which must outlive this object, or a copy this object owns (<see cref="Copy"/>).
/// </summary>
internal unsafe class CpuWeight : DeviceWeight
{
    /// <summary>Wraps a 2-D tensor [out, in] of dtype F32, F16 or BF16.</summary>
    public CpuWeight(TensorView view)
        : this(view.Name, WeightMatrix.FromView(view))
    {
    }

    /// <summary>Wraps a matrix already described by pointer and dtype.</summary>
    public CpuWeight(string name, WeightMatrix matrix)
        : base(name, matrix.DType, matrix.Rows, matrix.Cols) => _matrix = matrix;

    private CpuWeight(string name, WeightMatrix matrix, bool owned)
        : this(name, matrix) => _owned = owned;

    private readonly bool _owned;
    private readonly WeightMatrix _matrix;

    /// <summary>
    /// A copy of <paramref name="view"/> in this process's memory, which the weight owns: in panels
    /// (<see cref="WeightLayout.Panels"/>) where <see cref="PanelPacking.Worthwhile"/>, else row-major.
    /// </summary>
    public static CpuWeight Copy(TensorView view, CancellationToken cancellationToken = default)
    {
        WeightMatrix source = WeightMatrix.FromView(view);
        cancellationToken.ThrowIfCancellationRequested();
        if (PanelPacking.Worthwhile(source.Rows, source.Cols))
        {
            return new CpuWeight(view.Name, PanelPacking.Pack(source, cancellationToken), owned: true);
        }
        byte* copy = Safetensors.PrivateCopy.Allocate(source.ByteLength);
        Buffer.MemoryCopy(source.Data, copy, source.ByteLength, source.ByteLength);
        return new CpuWeight(view.Name, new WeightMatrix(copy, source.DType, source.Rows, source.Cols) { FiniteVerified = source.FiniteVerified }, owned: true);
    }

    /// <summary>
    /// The pointer, dtype, shape and layout the kernels take; valid until Dispose (a view's, until its owner is
    /// disposed). Read once per op: after Dispose it throws rather than hand out freed memory.
    /// </summary>
    public WeightMatrix Matrix
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsDisposed, this);
            return _matrix;
        }
    }

    /// <summary>A copy's memory is freed here; a view's belongs to the view's owner.</summary>
    protected override void Release()
    {
        if (_owned)
        {
            NativeMemory.AlignedFree(_matrix.Data);
        }
    }
}
