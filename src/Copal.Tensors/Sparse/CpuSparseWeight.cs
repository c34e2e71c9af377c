using Copal.Tensors.Backends;

namespace Copal.Tensors.Sparse;

/// <summary>A weight [out, in] held compressed on the CPU; <see cref="SparseMatMul"/> multiplies by it.</summary>
internal sealed class CpuSparseWeight : DeviceWeight
{
    private readonly bool _ownsMatrix;

    /// <param name="matrix">The compressed weight.</param>
    /// <param name="ownsMatrix">Dispose the matrix with this weight (false when someone else keeps it).</param>
    public CpuSparseWeight(SparseMatrix matrix, bool ownsMatrix = true)
        : base((matrix ?? throw new ArgumentNullException(nameof(matrix))).Name, matrix.DType, matrix.Rows, matrix.Cols)
    {
        Matrix = matrix;
        _ownsMatrix = ownsMatrix;
    }

    /// <summary>The compressed matrix.</summary>
    public SparseMatrix Matrix { get; }

    /// <summary>The matrix's <see cref="SparseMatrix.CompressedBytes"/>.</summary>
    public override long StoredBytes => Matrix.CompressedBytes;

    /// <summary>Disposes the matrix when the weight owns it (ownsMatrix), else leaves it to its owner.</summary>
    protected override void Release()
    {
        if (_ownsMatrix)
        {
            Matrix.Dispose();
        }
    }
}
