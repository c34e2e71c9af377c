using System.Runtime.CompilerServices;

namespace Copal.Tensors.Sparse;

/// <summary>What a dense weight looks like to the advisor: its fraction of zeros and which N:M patterns it satisfies.</summary>
/// <param name="Sparsity">Fraction of elements that are zero, 0 to 1.</param>
/// <param name="Valid24">Every group of 4 columns has at most 2 nonzeros (and the width is a multiple of 4).</param>
/// <param name="Valid48">Every group of 8 columns has at most 4 nonzeros (and the width is a multiple of 8).</param>
internal readonly record struct SparsityStats(double Sparsity, bool Valid24, bool Valid48);

/// <summary>The storage the advisor picks at load: a format (N and M for <see cref="SparseFormat.NM"/>) and why.</summary>
/// <param name="Format">The format picked; <see cref="SparseFormat.Dense"/> to keep the weight dense.</param>
/// <param name="N">Values kept per group for <see cref="SparseFormat.NM"/>; 0 otherwise.</param>
/// <param name="M">Group width for <see cref="SparseFormat.NM"/>; 0 otherwise.</param>
/// <param name="Reason">Why, in words, for the load log.</param>
internal sealed record SparsityChoice(SparseFormat Format, int N, int M, string Reason);

/// <summary>The CPU sparse GEMV a process runs (<see cref="SparseMatMul"/>): the break-even points differ between them.</summary>
public enum SparseGemvPath
{
    /// <summary>AVX-512 with VBMI and VBMI2 (<see cref="SparseGemv512"/>): below the memory bound, so a format wins what it saves in bytes.</summary>
    Avx512,

    /// <summary>The AVX2 + FMA kernels (<see cref="SparseRowKernels"/>): about as much decode work per weight as the bytes saved.</summary>
    Avx2,

    /// <summary>Neither: scalar code, never faster than the dense GEMV.</summary>
    Scalar,
}

/// <summary>
/// Chooses, at load, the storage that decodes fastest on the CPU: dense, 2:4, or bitmask. The thresholds are
/// break-even points measured against the production dense GEMV on shapes that stream from DRAM, separately for
/// each <see cref="SparseGemvPath"/> (docs/sparse-formats.md). On the AVX-512 path decode is memory bound, so a
/// format wins about as much as it saves bytes: 2:4 (1.125 B/weight in BF16, fixed work) won on every shape
/// measured; the BF16 bitmask won on every shape at 50% (1.8–2.1×) and lost on down_proj at 40% (0.88×), so it is
/// picked from 50%, and over valid 2:4 only where it is clearly smaller (from 65%). On the AVX2 path (measured in a
/// process started with DOTNET_EnableAVX512=0, two runs) 2:4 decoded at 0.5–1.1× dense and the bitmask at 50% at
/// 0.7–1.4×, so neither is chosen; the BF16 bitmask at 70% won on every shape (1.04–1.46×), F32's did not (0.82–1.47×).
/// F16 2:4 on the AVX-512 path was measured on a whole model (TinyLlama-1.1B's shapes, dense F16 weights converted at
/// load against the same weights dense: decode 1.38–1.69× in every round), so a valid 2:4 F16 weight converts there;
/// the F16 bitmask and every F16 format on AVX2 were not measured, so no other F16 weight is converted for speed
/// (compact F16 checkpoints and <c>--sparse force</c> still load compressed).
/// </summary>
internal static class SparsityAdvisor
{
    /// <summary>Sparsity from which the AVX-512 bitmask GEMV beats the dense BF16 GEMV.</summary>
    public const double BitmaskBreakEvenBf16 = 0.50;

    /// <summary>Sparsity from which the AVX-512 bitmask GEMV beats the dense F32 GEMV (dense F32 streams twice the bytes).</summary>
    public const double BitmaskBreakEvenF32 = 0.50;

    /// <summary>Sparsity from which the AVX2 bitmask GEMV beats the dense BF16 GEMV on every shape measured.</summary>
    public const double BitmaskBreakEvenBf16Avx2 = 0.70;

    /// <summary>Sparsity from which the bitmask (1/8 B + values) is preferred over a valid 2:4 layout.</summary>
    public const double BitmaskOverTwoFour = 0.65;

    /// <summary>The sparse GEMV this process runs.</summary>
    public static SparseGemvPath CurrentPath =>
        SparseGemv512.IsSupported ? SparseGemvPath.Avx512 : SparseRowKernels.Vectorized ? SparseGemvPath.Avx2 : SparseGemvPath.Scalar;

    /// <summary>Whether the 2:4 GEMV beats the dense GEMV of the same dtype (measured: on the AVX-512 path, for BF16, F32 and F16).</summary>
    public static bool TwoFourBeatsDense(DType dtype, SparseGemvPath path) => path == SparseGemvPath.Avx512 && dtype is (DType.F32 or DType.BF16 or DType.F16);

    /// <summary>
    /// Break-even sparsity of the bitmask GEMV against dense for <paramref name="dtype"/> on <paramref name="path"/>;
    /// infinity where no sparsity was measured to pay.
    /// </summary>
    public static double BitmaskBreakEven(DType dtype, SparseGemvPath path) => path switch
    {
        SparseGemvPath.Avx512 when dtype == DType.BF16 => BitmaskBreakEvenBf16,
        SparseGemvPath.Avx512 when dtype == DType.F32 => BitmaskBreakEvenF32,
        SparseGemvPath.Avx2 when dtype == DType.BF16 => BitmaskBreakEvenBf16Avx2,
        _ => double.PositiveInfinity,
    };

    /// <summary>
    /// The least sparsity at which <see cref="Choose(SparsityStats, DType, SparseGemvPath)"/> may pick a sparse format for
    /// <paramref name="dtype"/> on <paramref name="path"/>: the bitmask's break-even, or a half where 2:4 pays (a valid 2:4
    /// weight is at least half zeros); infinity where neither does. A weight sampled well below it need not be measured.
    /// </summary>
    public static double LeastSparsityThatPays(DType dtype, SparseGemvPath path) =>
        Math.Min(BitmaskBreakEven(dtype, path), TwoFourBeatsDense(dtype, path) ? 0.5 : double.PositiveInfinity);

    /// <summary>Counts zeros and checks the 2:4 and 4:8 patterns of a dense 2-D F32, BF16 or F16 tensor, in one pass.</summary>
    public static unsafe SparsityStats Measure(TensorView dense)
    {
        var (rows, cols) = DenseSource.MatrixShape(dense);
        var src = new DenseSource(dense.Name, dense.DType, dense.Data, dense.ByteLength, rows, cols);
        int stride = NonzeroMask.Stride(cols);
        long nonzeros = 0;
        // Groups line up with the mask's nibbles and bytes when M divides the width; its padding bits are zeros.
        int breaks24 = cols % 4 == 0 ? 0 : 1, breaks48 = cols % 8 == 0 ? 0 : 1;
        NonzeroMask.ForEachRow(src, (r, mask) =>
        {
            Interlocked.Add(ref nonzeros, NonzeroMask.Count(mask, stride));
            bool over24 = false, over48 = false;
            for (int b = 0; b < stride; b += 8)
            {
                ulong w = Unsafe.ReadUnaligned<ulong>(mask + b);
                over24 |= NonzeroMask.AnyNibbleOverTwo(w);
                over48 |= NonzeroMask.AnyByteOverFour(w);
            }
            if (over24)
            {
                Volatile.Write(ref breaks24, 1);
            }
            if (over48)
            {
                Volatile.Write(ref breaks48, 1);
            }
        });
        long total = (long)rows * cols;
        return new SparsityStats((total - nonzeros) / (double)total, breaks24 == 0, breaks48 == 0);
    }

    /// <summary>The storage to use for a weight with these statistics and stored dtype, on this process's path.</summary>
    public static SparsityChoice Choose(SparsityStats stats, DType dtype) => Choose(stats, dtype, CurrentPath);

    /// <summary>The storage to use for a weight with these statistics and stored dtype on <paramref name="path"/>.</summary>
    public static SparsityChoice Choose(SparsityStats stats, DType dtype, SparseGemvPath path)
    {
        if (!SparseMatrix.HoldsValuesOf(dtype))
        {
            return new SparsityChoice(SparseFormat.Dense, 0, 0, $"no sparse kernel reads {dtype}");
        }
        double breakEven = BitmaskBreakEven(dtype, path);
        bool bitmaskPays = stats.Sparsity >= breakEven;
        if (stats.Valid24 && TwoFourBeatsDense(dtype, path) && !(bitmaskPays && stats.Sparsity >= BitmaskOverTwoFour))
        {
            return new SparsityChoice(SparseFormat.NM, 2, 4, $"valid 2:4, and 2:4 decodes faster than dense {dtype}");
        }
        if (bitmaskPays)
        {
            return new SparsityChoice(SparseFormat.Bitmask, 0, 0, FormattableString.Invariant($"sparsity {stats.Sparsity:P0} ≥ bitmask break-even {breakEven:P0} for {dtype}"));
        }
        if (double.IsPositiveInfinity(breakEven))
        {
            return new SparsityChoice(SparseFormat.Dense, 0, 0, $"no sparse {dtype} GEMV of the {path} path was measured faster than dense");
        }
        // 4:8 decodes through the generic index path, slower than the bitmask of the same matrix, so it is never
        // chosen for speed; it stays a storage format.
        return new SparsityChoice(SparseFormat.Dense, 0, 0, FormattableString.Invariant($"sparsity {stats.Sparsity:P0} is below the break-even {breakEven:P0} for {dtype}"));
    }
}
