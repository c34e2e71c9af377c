using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// A bitmask matrix (the device layout of <see cref="SparseKernels.Bitmask"/>: 32-bit mask words per row and each
/// word's first value index) seen as the dense matrix it encodes, so the tiled GEMM multiplies it on prefill:
/// element [row, col] is a stored value when its mask bit is set, at the word's first index plus the set bits below
/// it, else zero. As with <see cref="TwoOfFourView{TV}"/>, only the GEMM's staging loop reads it; the per-feature
/// kernel re-read every input row for every output feature.
/// </summary>
internal readonly struct BitmaskView<TV>(TV values, ArrayView<uint> mask, ArrayView<uint> starts, int cols) : IWeightView
    where TV : struct, IWeightView
{
    private readonly TV _values = values;
    private readonly ArrayView<uint> _mask = mask;
    private readonly ArrayView<uint> _starts = starts;
    private readonly int _cols = cols;

    public float LoadAt(int row, int col, int cols)
    {
        long w = ((long)row * ((cols + 31) >> 5)) + (col >> 5);
        uint word = _mask[w];
        uint bit = 1u << (col & 31);
        bool set = (word & bit) != 0u;
        // An unset bit may sit past the last stored value: read value 0 then (the buffer holds at least one).
        long at = set ? _starts[w] + IntrinsicMath.BitOperations.PopCount(word & (bit - 1u)) : 0L;
        float v = _values.Load(at);
        return set ? v : 0f;
    }

    public float Load(long index) => LoadAt((int)(index / _cols), (int)(index % _cols), _cols);

    public Octet Load8(long index) => ElementwiseVectors.Load8(this, index);

    public Quad Load4(long index) => ElementwiseVectors.Load4(this, index);

    public Quad LoadQuadAt(int row, int col, int cols) => ElementwiseVectors.LoadQuadAt(this, row, col, cols);

    public bool LoadsVectors => false;

    public bool WidthInQuads => false;
}
