using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// Any N:M matrix (N stored values per group of M columns, each with its column as a bit field, docs/sparse-formats.md)
/// seen as the dense matrix it encodes, for the tiled GEMM on prefill: element [row, col] is the value of its group
/// whose field names col, else zero (fields increase within a group, so at most one matches). 2:4 has its own view
/// with fixed fields (<see cref="TwoOfFourView{TV}"/>).
/// </summary>
internal readonly struct NMView<TV>(TV values, ArrayView<byte> index, int cols, int n, int m, int bits, int indexStride) : IWeightView
    where TV : struct, IWeightView
{
    private readonly TV _values = values;
    private readonly ArrayView<byte> _index = index;
    private readonly int _cols = cols;
    private readonly int _n = n;
    private readonly int _m = m;
    private readonly int _bits = bits;
    private readonly int _indexStride = indexStride;

    public float LoadAt(int row, int col, int cols)
    {
        int g = col / _m;
        uint within = (uint)(col - (g * _m)), fieldMask = (1u << _bits) - 1u;
        long valueBase = ((long)row * (cols / _m) * _n) + ((long)g * _n);
        long indexBase = (long)row * _indexStride;
        float sum = 0f;
        for (int j = 0; j < _n; j++)
        {
            int bit = ((g * _n) + j) * _bits;
            int b = bit >> 3;
            uint word = _index[indexBase + b];
            if (b + 1 < _indexStride)
            {
                word |= (uint)_index[indexBase + b + 1] << 8;
            }
            float v = _values.Load(valueBase + j);
            sum += ((word >> (bit & 7)) & fieldMask) == within ? v : 0f;
        }
        return sum;
    }

    public float Load(long index) => LoadAt((int)(index / _cols), (int)(index % _cols), _cols);

    public Octet Load8(long index) => ElementwiseVectors.Load8(this, index);

    public Quad Load4(long index) => ElementwiseVectors.Load4(this, index);

    public Quad LoadQuadAt(int row, int col, int cols) => ElementwiseVectors.LoadQuadAt(this, row, col, cols);

    public bool LoadsVectors => false;

    public bool WidthInQuads => false;
}
