using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Copal.Tensors.Kernels.VectorFma;

namespace Copal.Tensors.Kernels;

/// <summary>
/// <see cref="Gemv"/>'s Vector256 path for BF16 weights (AVX2 machines), without widening them. A 32-byte load holds
/// sixteen weights as eight 32-bit pairs; a pair's high weight is already an f32 once its low half is masked off,
/// and its low weight is one once shifted up 16. So each 16 columns cost a load, a shift and an and, and the
/// products pair with x's even and odd columns (two in-lane shuffles of x, shared by four weight rows), where the
/// widening load (<see cref="Bf16Load.Load8"/>) costs a load-and-widen and a shift per eight columns. With the
/// weights coming from memory, on an AVX2-only machine (2 cores), that made the GEMV 1.02–1.10× faster on
/// TinyLlama-1.1B's shapes (docs/performance.md): little, because it is bound by how many of its loads are in
/// flight, not by its instructions.
/// <para>
/// A row's sum is the same whether it runs in a block of four rows or alone: two accumulators over the even and
/// the odd columns of each 16-column step, then the 8-column tail into the even one, their vector sum, the scalar
/// tail. So a row's result does not depend on how rows are split among threads.
/// </para>
/// </summary>
internal static unsafe class Bf16PairGemv
{
    /// <summary>Whether this machine runs these kernels: they need AVX's in-lane shuffle.</summary>
    public static bool IsSupported => Avx.IsSupported;

    /// <summary>y[j] for j in [<paramref name="rowStart"/>, <paramref name="rowEnd"/>), four rows at a time.</summary>
    public static void Rows(float* x, in WeightMatrix w, int rowStart, int rowEnd, float* y)
    {
        int cols = w.Cols;
        int j = rowStart;
        for (; j + 4 <= rowEnd; j += 4)
        {
            Four(x, w.Row(j), w.Row(j + 1), w.Row(j + 2), w.Row(j + 3), cols, y + j);
        }
        for (; j < rowEnd; j++)
        {
            y[j] = One(x, w.Row(j), cols);
        }
    }

    /// <summary>The mask that keeps a pair's high BF16 (its odd column) as an f32.</summary>
    internal static readonly Vector256<uint> HighHalves = Vector256.Create(0xFFFF0000u);

    /// <summary>
    /// x[k + 2i] and x[k + 2i + 1] for i &lt; 8, in the lane order of a 32-byte weight load's pairs: the load's low
    /// 128 bits hold columns k..k+7, its high 128 bits k+8..k+15, and a shuffle stays within its 128-bit half.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Even, Vector256<float> Odd) EvenOdd(float* x, nint k)
    {
        Vector256<float> first = Vector256.Create(Vector128.Load(x + k), Vector128.Load(x + k + 8));
        Vector256<float> second = Vector256.Create(Vector128.Load(x + k + 4), Vector128.Load(x + k + 12));
        return (Avx.Shuffle(first, second, 0b10_00_10_00), Avx.Shuffle(first, second, 0b11_01_11_01));
    }

    /// <summary>
    /// Writes each whole 16 columns of <paramref name="x"/> to <paramref name="destination"/> as <see cref="EvenOdd"/>
    /// gives them, its even columns then its odd ones, for kernels that pair one input with many weight rows
    /// (<see cref="BatchedGemv256"/>); the columns past the last whole 16 are not written.
    /// </summary>
    public static void ArrangeEvenOdd(float* x, float* destination, int cols)
    {
        for (nint k = 0; k + 16 <= cols; k += 16)
        {
            (Vector256<float> even, Vector256<float> odd) = EvenOdd(x, k);
            even.Store(destination + k);
            odd.Store(destination + k + 8);
        }
    }

    /// <summary>Columns k..k+15 of a BF16 row as eight 32-bit pairs: the even column in the low half, the odd in the high.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<uint> Pairs(byte* row, nint k) => Vector256.Load((uint*)((ushort*)row + k));

    private static void Four(float* x, byte* w0, byte* w1, byte* w2, byte* w3, int cols, float* y)
    {
        Vector256<float> e0 = default, e1 = default, e2 = default, e3 = default;
        Vector256<float> o0 = default, o1 = default, o2 = default, o3 = default;
        Vector256<uint> high = HighHalves;
        nint k = 0;
        for (; k + 16 <= cols; k += 16)
        {
            (Vector256<float> xe, Vector256<float> xo) = EvenOdd(x, k);
            Vector256<uint> p0 = Pairs(w0, k), p1 = Pairs(w1, k), p2 = Pairs(w2, k), p3 = Pairs(w3, k);
            e0 = Fma((p0 << 16).AsSingle(), xe, e0);
            o0 = Fma((p0 & high).AsSingle(), xo, o0);
            e1 = Fma((p1 << 16).AsSingle(), xe, e1);
            o1 = Fma((p1 & high).AsSingle(), xo, o1);
            e2 = Fma((p2 << 16).AsSingle(), xe, e2);
            o2 = Fma((p2 & high).AsSingle(), xo, o2);
            e3 = Fma((p3 << 16).AsSingle(), xe, e3);
            o3 = Fma((p3 & high).AsSingle(), xo, o3);
        }
        Gemv.FinishFour<Bf16Load>(x, w0, w1, w2, w3, k, cols, e0, e1, e2, e3, o0, o1, o2, o3, y);
    }

    /// <summary>One row, summed exactly as each of <see cref="Four"/>'s rows is.</summary>
    private static float One(float* x, byte* w, int cols)
    {
        Vector256<float> e = default, o = default;
        Vector256<uint> high = HighHalves;
        nint k = 0;
        for (; k + 16 <= cols; k += 16)
        {
            (Vector256<float> xe, Vector256<float> xo) = EvenOdd(x, k);
            Vector256<uint> p = Pairs(w, k);
            e = Fma((p << 16).AsSingle(), xe, e);
            o = Fma((p & high).AsSingle(), xo, o);
        }
        return Gemv.FinishOne<Bf16Load>(x, w, k, cols, e, o);
    }
}
