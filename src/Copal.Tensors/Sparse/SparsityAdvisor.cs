using System.Runtime.CompilerServices;

namespace Copal.Tensors.Sparse;

/// <summary>What a dense weight looks like to the advisor: its fraction of zeros and which N:M patterns it satisfies.</summary>
public readonly record struct SparsityStats(double Sparsity, bool Valid24, bool Valid48);

/// <summary>The storage the advisor picks at load: a format (N and M for <see cref="SparseFormat.NM"/>) and why.</summary>
public sealed record SparsityChoice(SparseFormat Format, int N, int M, string Reason);

/// <summary>
/// Chooses, at load, the storage that decodes fastest on the CPU: dense, 2:4, or bitmask. The thresholds are
/// break-even points measured with the AVX-512 GEMV against the production dense GEMV on shapes that stream from
/// DRAM (docs/sparse-formats.md): decode is memory bound, so a format wins about as much as it saves bytes, less
/// its decode work. 2:4 (1.125 B/weight in BF16, fixed work) won on every shape measured; the BF16 bitmask won on
/// every shape at 50% (1.8–2.1×) and lost on down_proj at 40% (0.88×), so it is picked from 50%, and over valid 2:4
/// only where it is clearly smaller (from 65%). The AVX2 kernels, measured the same way in a process without
/// AVX-512, cross over at the same points (2:4 1.8–2.1×, bitmask at 50% 1.4–2.1×), so the choice ignores the ISA.
/// </summary>
public static class SparsityAdvisor
{
    /// <summary>Sparsity from which the bitmask GEMV beats the dense BF16 GEMV.</summary>
    public const double BitmaskBreakEvenBf16 = 0.50;

    /// <summary>Sparsity from which the bitmask GEMV beats the dense F32 GEMV (dense F32 streams twice the bytes).</summary>
    public const double BitmaskBreakEvenF32 = 0.50;

    /// <summary>Sparsity from which the bitmask (1/8 B + values) is preferred over a valid 2:4 layout.</summary>
    public const double BitmaskOverTwoFour = 0.65;

    /// <summary>Whether the 2:4 GEMV beats the dense GEMV of the same dtype (measured: yes for BF16 and F32).</summary>
    public static bool TwoFourBeatsDense(DType dtype) => dtype is DType.F32 or DType.BF16;

    /// <summary>Break-even sparsity of the bitmask GEMV against dense for <paramref name="dtype"/>.</summary>
    public static double BitmaskBreakEven(DType dtype) => dtype == DType.BF16 ? BitmaskBreakEvenBf16 : BitmaskBreakEvenF32;

    /// <summary>Counts zeros and checks the 2:4 and 4:8 patterns of a dense 2-D F32 or BF16 tensor, in one pass.</summary>
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

    /// <summary>The storage to use for a weight with these statistics and stored dtype.</summary>
    public static SparsityChoice Choose(SparsityStats stats, DType dtype)
    {
        if (dtype is not (DType.F32 or DType.BF16))
        {
            return new SparsityChoice(SparseFormat.Dense, 0, 0, $"no sparse kernel reads {dtype}");
        }
        double breakEven = BitmaskBreakEven(dtype);
        bool bitmaskPays = stats.Sparsity >= breakEven;
        if (stats.Valid24 && TwoFourBeatsDense(dtype) && !(bitmaskPays && stats.Sparsity >= BitmaskOverTwoFour))
        {
            return new SparsityChoice(SparseFormat.NM, 2, 4, $"valid 2:4, and 2:4 decodes faster than dense {dtype}");
        }
        if (bitmaskPays)
        {
            return new SparsityChoice(SparseFormat.Bitmask, 0, 0, $"sparsity {stats.Sparsity:P0} ≥ bitmask break-even {breakEven:P0} for {dtype}");
        }
        // 4:8 decodes through the generic index path, slower than the bitmask of the same matrix, so it is never
        // chosen for speed; it stays a storage format.
        return new SparsityChoice(SparseFormat.Dense, 0, 0, $"sparsity {stats.Sparsity:P0} is below the break-even {breakEven:P0} for {dtype}");
    }
}
