using ILGPU;
using ILGPU.Runtime;
using Copal.Tensors.Backends.Ilgpu.Kernels;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// The fused matmuls of a decode step (rows = 1, dense weights of one dtype): q, k and v in one launch, gate, up and
/// SiLU·mul in another. Other cases (prefill's GEMM, compressed weights, mixed dtypes) run the plain ops they stand
/// for (<see cref="FusedOps"/>), which is what the fused kernels compute.
/// </summary>
public sealed partial class IlgpuBackend
{
    public void MatMulTriple(DeviceBuffer x, DeviceWeight w0, DeviceBuffer y0, DeviceWeight w1, DeviceBuffer y1, DeviceWeight w2, DeviceBuffer y2, int rows)
    {
        Require(BackendOp.MatMulTriple);
        if (rows != 1 || !SameDense(w0, w1) || !SameDense(w0, w2))
        {
            FusedOps.MatMulTriple(this, x, w0, y0, w1, y1, w2, y2, rows);
            return;
        }
        const string Op = "MatMulTriple";
        IlgpuWeight a = OwnWeight(w0, Op), b = OwnWeight(w1, Op), c = OwnWeight(w2, Op);
        int cols = a.Cols;
        Need(x, cols, Op, nameof(x));
        Need(y0, a.Rows, Op, nameof(y0));
        Need(y1, b.Rows, Op, nameof(y1));
        Need(y2, c.Rows, Op, nameof(y2));
        KernelConfig config = TeamPerOutput(Count((long)a.Rows + b.Rows + c.Rows, Op));
        ArrayView<float> xv = Own(x, Op, nameof(x)).View, v0 = Own(y0, Op, nameof(y0)).View, v1 = Own(y1, Op, nameof(y1)).View, v2 = Own(y2, Op, nameof(y2)).View;
        switch (a.DType)
        {
            case DType.F32: _kernels.GemvTripleF32(config, xv, a.F32, b.F32, c.F32, v0, v1, v2, a.Rows, b.Rows, c.Rows, cols); break;
            case DType.BF16: _kernels.GemvTripleBf16(config, xv, a.Bf16, b.Bf16, c.Bf16, v0, v1, v2, a.Rows, b.Rows, c.Rows, cols); break;
            default: _kernels.GemvTripleF16(config, xv, a.F16, b.F16, c.F16, v0, v1, v2, a.Rows, b.Rows, c.Rows, cols); break;
        }
    }

    public void MatMulSiluGate(DeviceBuffer x, DeviceWeight gate, DeviceWeight up, DeviceBuffer output, DeviceBuffer upScratch, int rows)
    {
        Require(BackendOp.MatMulSiluGate);
        if (rows != 1 || !SameDense(gate, up) || gate.Rows != up.Rows)
        {
            FusedOps.MatMulSiluGate(this, x, gate, up, output, upScratch, rows);
            return;
        }
        const string Op = "MatMulSiluGate";
        FusedOps.CheckSiluGateBuffers(x, output, upScratch);
        IlgpuWeight g = OwnWeight(gate, Op), u = OwnWeight(up, Op);
        Need(x, g.Cols, Op, nameof(x));
        Need(output, g.Rows, Op, nameof(output));
        KernelConfig config = TeamPerOutput(g.Rows);
        ArrayView<float> xv = Own(x, Op, nameof(x)).View, yv = Own(output, Op, nameof(output)).View;
        switch (g.DType)
        {
            case DType.F32: _kernels.GemvSiluGateF32(config, xv, g.F32, u.F32, yv, g.Rows, g.Cols); break;
            case DType.BF16: _kernels.GemvSiluGateBf16(config, xv, g.Bf16, u.Bf16, yv, g.Rows, g.Cols); break;
            default: _kernels.GemvSiluGateF16(config, xv, g.F16, u.F16, yv, g.Rows, g.Cols); break;
        }
    }

    /// <summary>Both dense device weights of one dtype and input width: what one fused GEMV launch can read.</summary>
    private static bool SameDense(DeviceWeight a, DeviceWeight b) =>
        a is IlgpuWeight && b is IlgpuWeight && a.DType == b.DType && a.Cols == b.Cols;
}
