namespace Copal.Tensors.Sparse;

/// <summary>What a dense weight looks like to the advisor: its fraction of zeros and which N:M patterns it satisfies.</summary>
public readonly record struct SparsityStats(double Sparsity, bool Valid24, bool Valid48);

/// <summary>The storage the advisor picks at load: a format (N and M for <see cref="SparseFormat.NM"/>) and why.</summary>
public sealed record SparsityChoice(SparseFormat Format, int N, int M, string Reason);

/// <summary>
/// Chooses, at load, the storage that decodes fastest on the CPU: dense, 2:4, or bitmask. The thresholds are
/// break-even points measured with the GEMV benchmark (docs/sparse-formats.md); on this class of machine the
/// sparse kernels are bound by decode work per column, not by bytes, so sparsity must be high to pay off.
/// </summary>
public static class SparsityAdvisor
{
    /// <summary>Sparsity from which the bitmask GEMV beats the dense BF16 GEMV.</summary>
    public const double BitmaskBreakEvenBf16 = 0.80;

    /// <summary>Sparsity from which the bitmask GEMV beats the dense F32 GEMV (dense F32 streams twice the bytes).</summary>
    public const double BitmaskBreakEvenF32 = 0.60;

    /// <summary>Whether the 2:4 GEMV beats the dense GEMV of the same dtype (measured: BF16 no, F32 yes).</summary>
    public static bool TwoFourBeatsDense(DType dtype) => dtype == DType.F32;

    /// <summary>Counts zeros and checks the 2:4 and 4:8 patterns of a dense 2-D F32 or BF16 tensor.</summary>
    public static unsafe SparsityStats Measure(TensorView dense)
    {
        var (rows, cols) = DenseSource.MatrixShape(dense);
        var src = new DenseSource(dense.Name, dense.DType, dense.Data, dense.ByteLength, rows, cols);
        long zeros = 0;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < cols; c++)
            {
                zeros += src.IsZero(r, c) ? 1 : 0;
            }
        }
        return new SparsityStats(zeros / ((double)rows * cols), NMSparseMatrix.IsValid(src, 2, 4), NMSparseMatrix.IsValid(src, 4, 8));
    }

    /// <summary>The storage to use for a weight with these statistics and stored dtype.</summary>
    public static SparsityChoice Choose(SparsityStats stats, DType dtype)
    {
        if (dtype is not (DType.F32 or DType.BF16))
        {
            return new SparsityChoice(SparseFormat.Dense, 0, 0, $"no sparse kernel reads {dtype}");
        }
        double breakEven = dtype == DType.BF16 ? BitmaskBreakEvenBf16 : BitmaskBreakEvenF32;
        if (stats.Sparsity >= breakEven)
        {
            return new SparsityChoice(SparseFormat.Bitmask, 0, 0, $"sparsity {stats.Sparsity:P0} ≥ bitmask break-even {breakEven:P0} for {dtype}");
        }
        if (stats.Valid24 && TwoFourBeatsDense(dtype))
        {
            return new SparsityChoice(SparseFormat.NM, 2, 4, $"valid 2:4, and 2:4 decodes faster than dense {dtype}");
        }
        // 4:8 decodes through the generic index path, slower than the bitmask of the same matrix, so it is never
        // chosen for speed; it stays a storage format.
        return new SparsityChoice(SparseFormat.Dense, 0, 0, $"sparsity {stats.Sparsity:P0} is below the break-even {breakEven:P0} for {dtype}");
    }
}
