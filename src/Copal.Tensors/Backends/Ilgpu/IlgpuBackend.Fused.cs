using ILGPU;
using Copal.Tensors.Backends.Ilgpu.Kernels;
using Copal.Tensors.Sparse;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// The fused matmuls of a decode step (rows = 1): q, k and v in one launch; gate, up and SiLU·mul in another. They
/// fuse weights of one kind: dense of one dtype, or one compressed format (2:4, other N:M, bitmask) of one dtype,
/// each read by its <see cref="IRowDot"/>. Other cases (prefill's GEMM, mixed kinds) run the plain ops they stand
/// for (<see cref="FusedOps"/>), which is what the fused kernels compute.
/// </summary>
public sealed partial class IlgpuBackend
{
    /// <summary>What one fused decode launch can read: weights of one of these kinds, all the same.</summary>
    private enum FusedKind { None, F32, Bf16, F16, TwoOfFourF32, TwoOfFourBf16, TwoOfFourF16, NMF32, NMBf16, NMF16, BitmaskF32, BitmaskBf16, BitmaskF16 }

    /// <inheritdoc/>
    public void MatMulTriple(DeviceBuffer x, DeviceWeight w0, DeviceBuffer y0, DeviceWeight w1, DeviceBuffer y1, DeviceWeight w2, DeviceBuffer y2, int rows)
    {
        Require(BackendOp.MatMulTriple);
        FusedOps.CheckTripleBuffers(x, y0, y1, y2);
        FusedKind kind = FusedKindOf(w0);
        if (rows != 1 || kind == FusedKind.None || FusedKindOf(w1) != kind || FusedKindOf(w2) != kind || w1.Cols != w0.Cols || w2.Cols != w0.Cols)
        {
            FusedOps.MatMulTriple(this, x, w0, y0, w1, y1, w2, y2, rows);
            return;
        }
        const string Op = "MatMulTriple";
        Need(x, w0.Cols, Op, nameof(x));
        Need(y0, w0.Rows, Op, nameof(y0));
        Need(y1, w1.Rows, Op, nameof(y1));
        Need(y2, w2.Rows, Op, nameof(y2));
        KernelConfig config = TeamPerOutput(Count((long)w0.Rows + w1.Rows + w2.Rows, Op));
        ArrayView<float> xv = Own(x, Op, nameof(x)).View, v0 = Own(y0, Op, nameof(y0)).View, v1 = Own(y1, Op, nameof(y1)).View, v2 = Own(y2, Op, nameof(y2)).View;
        (int o0, int o1, int o2) = (w0.Rows, w1.Rows, w2.Rows);
        switch (kind)
        {
            case FusedKind.F32: _kernels.GemvTripleF32(config, xv, Dense(w0).F32Rows, Dense(w1).F32Rows, Dense(w2).F32Rows, v0, v1, v2, o0, o1, o2); break;
            case FusedKind.Bf16: _kernels.GemvTripleBf16(config, xv, Dense(w0).Bf16Rows, Dense(w1).Bf16Rows, Dense(w2).Bf16Rows, v0, v1, v2, o0, o1, o2); break;
            case FusedKind.F16: _kernels.GemvTripleF16(config, xv, Dense(w0).F16Rows, Dense(w1).F16Rows, Dense(w2).F16Rows, v0, v1, v2, o0, o1, o2); break;
            case FusedKind.TwoOfFourF32: _kernels.GemvTripleTwoOfFourF32(config, xv, Sparse(w0).TwoOfFourF32Rows, Sparse(w1).TwoOfFourF32Rows, Sparse(w2).TwoOfFourF32Rows, v0, v1, v2, o0, o1, o2); break;
            case FusedKind.TwoOfFourF16: _kernels.GemvTripleTwoOfFourF16(config, xv, Sparse(w0).TwoOfFourF16Rows, Sparse(w1).TwoOfFourF16Rows, Sparse(w2).TwoOfFourF16Rows, v0, v1, v2, o0, o1, o2); break;
            case FusedKind.TwoOfFourBf16: _kernels.GemvTripleTwoOfFourBf16(config, xv, Sparse(w0).TwoOfFourBf16Rows, Sparse(w1).TwoOfFourBf16Rows, Sparse(w2).TwoOfFourBf16Rows, v0, v1, v2, o0, o1, o2); break;
            case FusedKind.NMF32: _kernels.GemvTripleNMF32(config, xv, Sparse(w0).NMF32Rows, Sparse(w1).NMF32Rows, Sparse(w2).NMF32Rows, v0, v1, v2, o0, o1, o2); break;
            case FusedKind.NMF16: _kernels.GemvTripleNMF16(config, xv, Sparse(w0).NMF16Rows, Sparse(w1).NMF16Rows, Sparse(w2).NMF16Rows, v0, v1, v2, o0, o1, o2); break;
            case FusedKind.NMBf16: _kernels.GemvTripleNMBf16(config, xv, Sparse(w0).NMBf16Rows, Sparse(w1).NMBf16Rows, Sparse(w2).NMBf16Rows, v0, v1, v2, o0, o1, o2); break;
            case FusedKind.BitmaskF32: _kernels.GemvTripleBitmaskF32(config, xv, Sparse(w0).BitmaskF32Rows, Sparse(w1).BitmaskF32Rows, Sparse(w2).BitmaskF32Rows, v0, v1, v2, o0, o1, o2); break;
            case FusedKind.BitmaskF16: _kernels.GemvTripleBitmaskF16(config, xv, Sparse(w0).BitmaskF16Rows, Sparse(w1).BitmaskF16Rows, Sparse(w2).BitmaskF16Rows, v0, v1, v2, o0, o1, o2); break;
            default: _kernels.GemvTripleBitmaskBf16(config, xv, Sparse(w0).BitmaskBf16Rows, Sparse(w1).BitmaskBf16Rows, Sparse(w2).BitmaskBf16Rows, v0, v1, v2, o0, o1, o2); break;
        }
    }

    /// <inheritdoc/>
    public void MatMulSiluGate(DeviceBuffer x, DeviceWeight gate, DeviceWeight up, DeviceBuffer output, DeviceBuffer upScratch, int rows)
    {
        Require(BackendOp.MatMulSiluGate);
        FusedKind kind = FusedKindOf(gate);
        if (rows != 1 || kind == FusedKind.None || FusedKindOf(up) != kind || gate.Rows != up.Rows || gate.Cols != up.Cols)
        {
            FusedOps.MatMulSiluGate(this, x, gate, up, output, upScratch, rows);
            return;
        }
        const string Op = "MatMulSiluGate";
        FusedOps.CheckSiluGateBuffers(x, output, upScratch);
        Need(x, gate.Cols, Op, nameof(x));
        Need(output, gate.Rows, Op, nameof(output));
        KernelConfig config = TeamPerOutput(gate.Rows);
        ArrayView<float> xv = Own(x, Op, nameof(x)).View, yv = Own(output, Op, nameof(output)).View;
        int outs = gate.Rows;
        switch (kind)
        {
            case FusedKind.F32: _kernels.GemvSiluGateF32(config, xv, Dense(gate).F32Rows, Dense(up).F32Rows, yv, outs); break;
            case FusedKind.Bf16: _kernels.GemvSiluGateBf16(config, xv, Dense(gate).Bf16Rows, Dense(up).Bf16Rows, yv, outs); break;
            case FusedKind.F16: _kernels.GemvSiluGateF16(config, xv, Dense(gate).F16Rows, Dense(up).F16Rows, yv, outs); break;
            case FusedKind.TwoOfFourF32: _kernels.GemvSiluGateTwoOfFourF32(config, xv, Sparse(gate).TwoOfFourF32Rows, Sparse(up).TwoOfFourF32Rows, yv, outs); break;
            case FusedKind.TwoOfFourF16: _kernels.GemvSiluGateTwoOfFourF16(config, xv, Sparse(gate).TwoOfFourF16Rows, Sparse(up).TwoOfFourF16Rows, yv, outs); break;
            case FusedKind.TwoOfFourBf16: _kernels.GemvSiluGateTwoOfFourBf16(config, xv, Sparse(gate).TwoOfFourBf16Rows, Sparse(up).TwoOfFourBf16Rows, yv, outs); break;
            case FusedKind.NMF32: _kernels.GemvSiluGateNMF32(config, xv, Sparse(gate).NMF32Rows, Sparse(up).NMF32Rows, yv, outs); break;
            case FusedKind.NMF16: _kernels.GemvSiluGateNMF16(config, xv, Sparse(gate).NMF16Rows, Sparse(up).NMF16Rows, yv, outs); break;
            case FusedKind.NMBf16: _kernels.GemvSiluGateNMBf16(config, xv, Sparse(gate).NMBf16Rows, Sparse(up).NMBf16Rows, yv, outs); break;
            case FusedKind.BitmaskF32: _kernels.GemvSiluGateBitmaskF32(config, xv, Sparse(gate).BitmaskF32Rows, Sparse(up).BitmaskF32Rows, yv, outs); break;
            case FusedKind.BitmaskF16: _kernels.GemvSiluGateBitmaskF16(config, xv, Sparse(gate).BitmaskF16Rows, Sparse(up).BitmaskF16Rows, yv, outs); break;
            default: _kernels.GemvSiluGateBitmaskBf16(config, xv, Sparse(gate).BitmaskBf16Rows, Sparse(up).BitmaskBf16Rows, yv, outs); break;
        }
    }

    /// <summary>The kind of a live weight of this backend that a fused launch can read; None for anything else.</summary>
    private FusedKind FusedKindOf(DeviceWeight weight) => weight switch
    {
        IlgpuWeight d when d.Owner == this && !d.IsDisposed => d.DType switch
        {
            DType.F32 => FusedKind.F32,
            DType.BF16 => FusedKind.Bf16,
            _ => FusedKind.F16,
        },
        IlgpuSparseWeight s when s.Owner == this && !s.IsDisposed => s.Format switch
        {
            // The 2:4 reader is the one the single 2:4 kernel uses: x as quads, chunks of four groups in 16-byte
            // loads; 2:4 of a width not in whole chunks is read as any N:M.
            SparseFormat.NM when s.IsTwoOfFourInChunks => Of(s.DType, FusedKind.TwoOfFourF32, FusedKind.TwoOfFourBf16, FusedKind.TwoOfFourF16),
            SparseFormat.NM => Of(s.DType, FusedKind.NMF32, FusedKind.NMBf16, FusedKind.NMF16),
            _ => Of(s.DType, FusedKind.BitmaskF32, FusedKind.BitmaskBf16, FusedKind.BitmaskF16),
        },
        _ => FusedKind.None,
    };

    /// <summary>The kind of <paramref name="dtype"/>'s values among a format's three.</summary>
    private static FusedKind Of(DType dtype, FusedKind f32, FusedKind bf16, FusedKind f16) => dtype switch
    {
        DType.BF16 => bf16,
        DType.F16 => f16,
        _ => f32,
    };

    private static IlgpuWeight Dense(DeviceWeight weight) => (IlgpuWeight)weight;

    private static IlgpuSparseWeight Sparse(DeviceWeight weight) => (IlgpuSparseWeight)weight;
}
