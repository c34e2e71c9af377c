using ILGPU;

namespace Copal.Tensors.Backends.Ilgpu.Kernels;

/// <summary>
/// A 2:4 matrix (two stored values and their 2-bit column fields per group of four, docs/sparse-formats.md) seen as
/// the dense matrix it encodes, so the tiled GEMM multiplies it on prefill as it does a dense one, reading half the
/// bytes: element [row, col] is the value of its group whose field names col, else zero. Only the GEMM's staging
/// loop reads it, a few elements a thread per tile step, so the decoding costs little beside the multiply-adds; the
/// matrix-vector shape has its own kernel (<see cref="SparseKernels.TwoOfFour"/>). A weight whose width is in whole
/// chunks (<see cref="SparseKernels.ReadsInChunks"/>) is stored with its groups permuted for that kernel
/// (<see cref="TwoOfFourLayout"/>); <paramref name="interleaved"/> says so.
/// </summary>
internal readonly struct TwoOfFourView<TV>(TV values, ArrayView<byte> index, int cols, int indexStride, bool interleaved) : IWeightView
    where TV : struct, IWeightView
{
    private readonly TV _values = values;
    private readonly ArrayView<byte> _index = index;
    private readonly int _cols = cols;
    private readonly int _indexStride = indexStride;
    private readonly int _chunks = interleaved ? cols >> 4 : 0;

    public float LoadAt(int row, int col, int cols)
    {
        int g = StoredGroup(col);
        uint nibble = Fields(row, g);
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

    /// <summary>The GEMM stages this view a quad (a group) at a time (<see cref="LoadQuadAt"/>) …</summary>
    public bool LoadsVectors => true;

    /// <summary>… and only so: every 2:4 width is a multiple of 4.</summary>
    public bool WidthInQuads => true;

    /// <summary>A quad is one group: its position, field nibble and two values are found once for its four elements.</summary>
    public Quad LoadQuadAt(int row, int col, int cols)
    {
        int g = StoredGroup(col);
        uint nibble = Fields(row, g);
        long first = ((long)row * (cols >> 1)) + (2L * g);
        float v0 = _values.Load(first), v1 = _values.Load(first + 1);
        uint f0 = nibble & 3u, f1 = (nibble >> 2) & 3u;
        return new Quad
        {
            X = (f0 == 0u ? v0 : 0f) + (f1 == 0u ? v1 : 0f),
            Y = (f0 == 1u ? v0 : 0f) + (f1 == 1u ? v1 : 0f),
            Z = (f0 == 2u ? v0 : 0f) + (f1 == 2u ? v1 : 0f),
            W = (f0 == 3u ? v0 : 0f) + (f1 == 3u ? v1 : 0f),
        };
    }

    /// <summary>Where the group of column <paramref name="col"/> is stored in its row, in group units.</summary>
    private int StoredGroup(int col) => _chunks == 0 ? col >> 2 : TwoOfFourLayout.StoredGroup(col >> 2, _chunks);

    /// <summary>The two 2-bit fields of stored group <paramref name="g"/> of <paramref name="row"/>, in the low nibble.</summary>
    private uint Fields(int row, int g) => (uint)_index[((long)row * _indexStride) + (g >> 1)] >> ((g & 1) << 2);
}
