using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// A weight as the decode kernels read it, one output feature at a time: lane <c>lane</c> of a team of
/// <c>team</c> lanes returns its share of W[o] · x for one input row x (<see cref="OutputTeams"/> sums the shares).
/// The fused GEMVs (<see cref="MatMulKernels.GemvTriple"/>, <see cref="MatMulKernels.GemvSiluGate"/>) are generic over
/// it, so one kernel source fuses dense weights and every compressed format alike.
/// </summary>
internal interface IRowDot
{
    float Dot(ArrayView<float> x, int o, int team, int lane);
}

/// <summary>A dense weight [outs, cols] in its stored dtype: <see cref="MatMulKernels.RowDot"/>, the GEMV's row loop.</summary>
internal readonly struct DenseRows<TW>(TW weights, int cols) : IRowDot
    where TW : struct, IWeightView
{
    private readonly TW _weights = weights;
    private readonly int _cols = cols;

    public float Dot(ArrayView<float> x, int o, int team, int lane) =>
        MatMulKernels.RowDot(x, x.Cast<Quad>(), _weights, (long)o * _cols, _cols, team, lane);
}

/// <summary>
/// A 2:4 weight (two values and a nibble of 2-bit fields per group of four) whose width is a multiple of 16
/// (<see cref="SparseKernels.ReadsInChunks"/>): <see cref="SparseKernels.TwoOfFourDot"/>.
/// </summary>
internal readonly struct TwoOfFourRows<TV>(TV values, ArrayView<byte> index, int cols) : IRowDot
    where TV : struct, IWeightView
{
    private readonly TV _values = values;
    private readonly ArrayView<ushort> _index16 = index.Cast<ushort>();
    private readonly int _chunks = cols >> 4;

    public float Dot(ArrayView<float> x, int o, int team, int lane) =>
        SparseKernels.TwoOfFourDot(x.Cast<Quad>(), 0, _values, _index16, o, _chunks, team, lane);
}

/// <summary>An N:M weight (n values and n bit fields per group of m): <see cref="SparseKernels.NMDot"/>.</summary>
internal readonly struct NMRows<TV>(TV values, ArrayView<byte> index, int cols, int n, int m, int bits, int indexStride) : IRowDot
    where TV : struct, IWeightView
{
    private readonly TV _values = values;
    private readonly ArrayView<byte> _index = index;
    private readonly int _groups = cols / m;
    private readonly int _n = n;
    private readonly int _m = m;
    private readonly int _bits = bits;
    private readonly int _indexStride = indexStride;

    public float Dot(ArrayView<float> x, int o, int team, int lane) =>
        SparseKernels.NMDot(x, 0, _values, (long)o * _groups * _n, _index, (long)o * _indexStride, _groups, _n, _m, _bits, _indexStride, team, lane);
}

/// <summary>A bitmask weight (32-bit mask words and each word's first value): <see cref="SparseKernels.BitmaskDot"/>.</summary>
internal readonly struct BitmaskRows<TV>(TV values, ArrayView<uint> mask, ArrayView<uint> starts, int cols) : IRowDot
    where TV : struct, IWeightView
{
    private readonly TV _values = values;
    private readonly ArrayView<uint> _mask = mask;
    private readonly ArrayView<uint> _starts = starts;
    private readonly int _words = (cols + 31) / 32;

    public float Dot(ArrayView<float> x, int o, int team, int lane) =>
        SparseKernels.BitmaskDot(x, 0, _values, _mask, _starts, (long)o * _words, _words, team, lane);
}
