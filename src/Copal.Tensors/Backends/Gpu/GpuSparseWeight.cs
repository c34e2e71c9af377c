using Copal.Tensors.Sparse;

namespace Copal.Tensors.Backends.Gpu;

/// <summary>
/// A sparse weight in device memory for the kernels of sparse.cl: N:M values and their index bit stream as stored
/// on the CPU, or bitmask values with the mask as 32-bit words per row plus, per word, the index of its first value
/// (so threads can start at any word). Its buffers belong to the backend that uploaded them.
/// </summary>
public sealed class GpuSparseWeight : DeviceWeight
{
    internal GpuSparseWeight(SparseMatrix matrix, DeviceBuffer values, DeviceBuffer index, DeviceBuffer? starts)
        : base(matrix.Name, matrix.DType, matrix.Rows, matrix.Cols)
    {
        Format = matrix.Format;
        if (matrix is NMSparseMatrix nm)
        {
            N = nm.N;
            M = nm.M;
            Bits = nm.Bits;
            IndexStride = nm.IndexStride;
        }
        Values = values;
        Index = index;
        Starts = starts;
    }

    public SparseFormat Format { get; }

    /// <summary>N:M only: stored values per group, group width, index bits per value, index bytes per row.</summary>
    public int N { get; }

    public int M { get; }

    public int Bits { get; }

    public int IndexStride { get; }

    /// <summary>The stored values (raw F32 or BF16 bytes).</summary>
    internal DeviceBuffer Values { get; }

    /// <summary>N:M: the index bit streams; bitmask: the mask words.</summary>
    internal DeviceBuffer Index { get; }

    /// <summary>Bitmask only: the first value index of each mask word.</summary>
    internal DeviceBuffer? Starts { get; }

    public override long StoredBytes => (Values.Length + Index.Length + (Starts?.Length ?? 0)) * sizeof(float);

    protected override void Release()
    {
        Values.Dispose();
        Index.Dispose();
        Starts?.Dispose();
    }
}
