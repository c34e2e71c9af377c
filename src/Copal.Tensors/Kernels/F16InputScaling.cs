using System.Runtime.Intrinsics;

namespace Copal.Tensors.Kernels;

/// <summary>
/// Inputs multiplied by 2^112 once per call, so that a kernel over finite F16 weights can skip the ×2^112 of each
/// weight's conversion (<see cref="F16PrescaledLoad"/>): eight input rows over panels took 1.11–1.19× BF16's time
/// with it (docs/performance.md). x·2^112 is exact while |x| &lt; 2^16 (a subnormal x becomes a normal float; at
/// 2^16 it would overflow), so the scaled copy is used only when every input is below that; a larger, Inf or NaN
/// input sends the call to the unscaled kernel, whose results are the same bits for every other input.
/// </summary>
internal static unsafe class F16InputScaling
{
    /// <summary>Inputs of smaller magnitude scale by 2^112 without overflow.</summary>
    internal const float Limit = 65536f;

    private static readonly float Scale = BitConverter.Int32BitsToSingle(0x77800000); // 2^112

    // One copy per thread, kept between calls; each thread frees its own when it ends (see ThreadScratch).
    [ThreadStatic] private static ThreadScratch? t_scaled;

    /// <summary>
    /// x[0..count) times 2^112 into this thread's scratch, or null when some |x| is not below <see cref="Limit"/>
    /// (NaN included). The pointer holds until this thread's next call.
    /// </summary>
    public static float* TryScale(float* x, long count)
    {
        float* scaled = (t_scaled ??= new()).Floats(count);
        Vector512<float> scale = Vector512.Create(Scale), limit = Vector512.Create(Limit);
        Vector512<float> below = Vector512<float>.AllBitsSet;
        long i = 0;
        for (; i + 16 <= count; i += 16)
        {
            Vector512<float> v = Vector512.Load(x + i);
            below &= Vector512.LessThan(Vector512.Abs(v), limit); // false for NaN
            (v * scale).Store(scaled + i);
        }
        bool ok = Vector512.EqualsAll(below.AsInt32(), Vector512<int>.AllBitsSet);
        for (; i < count; i++)
        {
            ok &= Math.Abs(x[i]) < Limit;
            scaled[i] = x[i] * Scale;
        }
        return ok ? scaled : null;
    }
}
