using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// A 2:4 matrix (two stored values and their 2-bit column fields per group of four, docs/sparse-formats.md) seen as
/// the dense matrix it encodes, so the tiled GEMM multiplies it on prefill as it does a dense one, reading half the
/// bytes: element [row, col] is the value of its group whose field names col, else zero. Only the GEMM's staging
/// loop reads it, a few elements a thread per tile step, so the decoding costs little beside the multiply-adds; the
/// matrix-vector shape has its own kernel (<see cref="SparseKernels.TwoOfFour"/>).
/// </summary>
internal readonly struct TwoOfFourView<TV>(TV values, ArrayView<byte> index, int cols, int indexStride) : IWeightView
    where TV : struct, IWeightView
{
    private readonly TV _values = values;
    private readonly ArrayView<byte> _index = index;
    private readonly int _cols = cols;
    private readonly int _indexStride = indexStride;

    public float LoadAt(int row, int col, int cols)
    {
        int g = col >> 2;
        uint nibble = (uint)_index[((long)row * _indexStride) + (g >> 1)] >> ((g & 1) << 2);
        uint within = (uint)(col & 3);
        long first = ((long)row * (cols >> 1)) + (2L * g);
        float v0 = _values.Load(first), v1 = _values.Load(first + 1);
        // Flat selects (PTX selp, no branch); the sum is the CPU kernel's Σ value · x[field] read per column.
        float a = (nibble & 3u) == within ? v0 : 0f;
        float b = ((nibble >> 2) & 3u) == within ? v1 : 0f;
        return a + b;
    }

    public float Load(long index) => LoadAt((int)(index / _cols), (int)(index % _cols), _cols);

    public Octet Load8(long index) => ElementwiseVectors.Load8(this, index);

    public Quad Load4(long index) => ElementwiseVectors.Load4(this, index);

    public bool LoadsVectors => false;
}
