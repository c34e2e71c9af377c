using ILGPU;
using ILGPU.Runtime;
using Copal.Tensors.Backends.Ilgpu.Kernels;
using Copal.Tensors.Sparse;

namespace Copal.Tensors.Backends.Ilgpu;

/// <summary>
/// A compressed weight in device memory for <see cref="SparseKernels"/>: N:M values with their index bit stream as
/// stored on the CPU, or bitmask values with the mask as 32-bit words per row plus, per word, the index of its first
/// value (so threads can start at any word).
/// </summary>
internal sealed class IlgpuSparseWeight : DeviceWeight
{
    private readonly MemoryBuffer[] _buffers;

    internal IlgpuSparseWeight(IlgpuBackend owner, SparseMatrix matrix, MemoryBuffer values, MemoryBuffer index, MemoryBuffer? starts,
        Bf16Weights bf16, F16Weights f16, F32Weights f32, ArrayView<byte> nmIndex, ArrayView<uint> maskWords, ArrayView<uint> maskStarts)
        : base(matrix.Name, matrix.DType, matrix.Rows, matrix.Cols)
    {
        Owner = owner;
        Format = matrix.Format;
        if (matrix is NMSparseMatrix nm)
        {
            N = nm.N;
            M = nm.M;
            Bits = nm.Bits;
            IndexStride = nm.IndexStride;
        }
        _buffers = starts is null ? [values, index] : [values, index, starts];
        Bf16 = bf16;
        F16 = f16;
        F32 = f32;
        NMIndex = nmIndex;
        MaskWords = maskWords;
        MaskStarts = maskStarts;
    }

    internal IlgpuBackend Owner { get; }

    /// <summary>The storage format: <see cref="SparseFormat.NM"/> or <see cref="SparseFormat.Bitmask"/>.</summary>
    public SparseFormat Format { get; }

    /// <summary>N:M only: stored values per group, group width, index bits per value, index bytes per row.</summary>
    public int N { get; }

    /// <summary>N:M only: the group width in columns; 0 for the bitmask.</summary>
    public int M { get; }

    /// <summary>N:M only: bits of one in-group index; 0 for the bitmask.</summary>
    public int Bits { get; }

    /// <summary>N:M only: bytes of one row's packed indices; 0 for the bitmask.</summary>
    public int IndexStride { get; }

    /// <summary>
    /// Whether the 2:4 kernels read it (<see cref="SparseKernels.TwoOfFour"/>, <see cref="TwoOfFourRows{TV}"/>): 2:4
    /// with 2-bit fields and a width in whole 16-column chunks. Other N:M weights, 2:4 of other widths among them,
    /// take the general N:M kernels. Such a weight is stored permuted for them (<see cref="TwoOfFourLayout"/>).
    /// </summary>
    internal bool IsTwoOfFourInChunks => Format == SparseFormat.NM && TwoOfFourInChunks(N, M, Bits, Cols);

    /// <summary>
    /// Whether <paramref name="matrix"/> loads as a weight that <see cref="IsTwoOfFourInChunks"/>: one test for both,
    /// as the upload permutes exactly the weights whose kernels read the permuted layout.
    /// </summary>
    internal static bool LoadsAsTwoOfFourChunks(NMSparseMatrix matrix) => TwoOfFourInChunks(matrix.N, matrix.M, matrix.Bits, matrix.Cols);

    private static bool TwoOfFourInChunks(int n, int m, int bits, int cols) => n == 2 && m == 4 && bits == 2 && SparseKernels.ReadsInChunks(cols);

    internal Bf16Weights Bf16 { get; }

    internal F16Weights F16 { get; }

    internal F32Weights F32 { get; }

    internal ArrayView<byte> NMIndex { get; }

    /// <summary>The weight as the fused decode kernels read it (<see cref="IRowDot"/>), per format and dtype.</summary>
    internal TwoOfFourRows<F32Weights> TwoOfFourF32Rows => new(F32, NMIndex, Cols);

    internal TwoOfFourRows<Bf16Weights> TwoOfFourBf16Rows => new(Bf16, NMIndex, Cols);

    internal TwoOfFourRows<F16Weights> TwoOfFourF16Rows => new(F16, NMIndex, Cols);

    internal NMRows<F32Weights> NMF32Rows => new(F32, NMIndex, Cols, N, M, Bits, IndexStride);

    internal NMRows<Bf16Weights> NMBf16Rows => new(Bf16, NMIndex, Cols, N, M, Bits, IndexStride);

    internal NMRows<F16Weights> NMF16Rows => new(F16, NMIndex, Cols, N, M, Bits, IndexStride);

    internal BitmaskRows<F32Weights> BitmaskF32Rows => new(F32, MaskWords, MaskStarts, Cols);

    internal BitmaskRows<Bf16Weights> BitmaskBf16Rows => new(Bf16, MaskWords, MaskStarts, Cols);

    internal BitmaskRows<F16Weights> BitmaskF16Rows => new(F16, MaskWords, MaskStarts, Cols);

    internal ArrayView<uint> MaskWords { get; }

    internal ArrayView<uint> MaskStarts { get; }

    /// <summary>Bytes of the device buffers: values, index or mask words, and mask starts.</summary>
    public override long StoredBytes => _buffers.Sum(b => b.LengthInBytes);

    /// <inheritdoc/>
    protected override void Release()
    {
        foreach (MemoryBuffer buffer in _buffers)
        {
            buffer.Dispose();
        }
    }
}
