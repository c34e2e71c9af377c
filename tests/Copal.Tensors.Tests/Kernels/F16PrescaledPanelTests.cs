using System.Runtime.InteropServices;
using Copal.Tensors.Kernels;

namespace Copal.Tensors.Tests.Kernels;

/// <summary>
/// The panel GEMV over finite F16 multiplies its inputs by 2^112 once per call instead of every weight
/// (<see cref="F16InputScaling"/>, <see cref="F16PrescaledLoad"/>). Its results must be the bits of the arithmetic it
/// replaced: each weight converted exactly to f32, then one FMA per column into a lane that starts at zero, columns in
/// order. That arithmetic is written here as scalar code, and every finite half is a weight.
/// </summary>
public sealed unsafe class F16PrescaledPanelTests
{
    /// <summary>An odd width; 63,488 finite halves over it fill 948 rows, so the last panel has 20 of its 32.</summary>
    private const int Cols = 67;

    private static readonly float Below2To16 = MathF.BitDecrement(65536f);

    public static TheoryData<int> InputRows => new(1, 2, 3, 4, 5, 6, 7, 8);

    [Theory]
    [MemberData(nameof(InputRows))]
    public void Every_finite_half_gives_the_bits_of_the_multiplied_conversion(int n)
    {
        using var w = new EveryFiniteHalf(Cols);
        float[] x = Inputs(n, seed: n);
        Assert.True(ScalesFine(x), "these inputs must take the scaled path");
        AssertBits(Reference(x, n, w), Multiply(x, n, w), n, w.Rows);
    }

    [Theory]
    [InlineData(65536f)]
    [InlineData(-65536f)]
    [InlineData(1e30f)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NaN)]
    public void An_input_that_would_overflow_when_scaled_takes_the_unscaled_conversion(float big)
    {
        const int n = 8;
        using var w = new EveryFiniteHalf(Cols);
        float[] x = Inputs(n, seed: 11);
        x[(5 * Cols) + 40] = big; // one input of one row: the whole call falls back
        Assert.False(ScalesFine(x), $"{big} must not be scaled");
        AssertBits(Reference(x, n, w), Multiply(x, n, w), n, w.Rows);
    }

    [Fact]
    public void Scaling_accepts_every_magnitude_below_2_to_16_and_nothing_else()
    {
        Assert.True(ScalesFine([Below2To16, -Below2To16, 0f, -0f, float.Epsilon, -float.Epsilon, 1e-40f]));
        // Lengths past the 16-wide loop put the rejected input in the vector part and in the scalar tail.
        foreach (int length in new[] { 1, 15, 16, 17, 33 })
        {
            foreach (float bad in new[] { 65536f, -65536f, float.MaxValue, float.NegativeInfinity, float.NaN })
            {
                for (int at = 0; at < length; at++)
                {
                    float[] x = new float[length];
                    x[at] = bad;
                    Assert.False(ScalesFine(x), $"{bad} at {at} of {length} was scaled");
                }
            }
        }
    }

    private static bool ScalesFine(float[] x)
    {
        fixed (float* p = x)
        {
            return F16InputScaling.TryScale(p, x.Length) != null;
        }
    }

    /// <summary>
    /// Inputs of every kind the scaling meets: ±0, subnormals, the largest float below 2^16, and signed normals with
    /// exponents from -126 to 15, interleaved so that every weight column sees several kinds across the rows.
    /// </summary>
    private static float[] Inputs(int n, int seed)
    {
        var random = new Random(seed);
        var x = new float[n * Cols];
        for (int i = 0; i < x.Length; i++)
        {
            float sign = random.Next(2) == 0 ? 1f : -1f;
            x[i] = (i % 7) switch
            {
                0 => sign * 0f,
                1 => sign * BitConverter.Int32BitsToSingle(random.Next(1, 1 << 23)), // subnormal
                2 => sign * Below2To16,
                3 => sign * MathF.ScaleB(1f + random.NextSingle(), random.Next(10, 16)), // up to 2^16
                _ => sign * MathF.ScaleB(1f + random.NextSingle(), random.Next(-126, 16)),
            };
        }
        return x;
    }

    /// <summary>The replaced arithmetic: exact f32 weight, one FMA per column from a zero sum.</summary>
    private static float[] Reference(float[] x, int n, EveryFiniteHalf w)
    {
        var y = new float[n * w.Rows];
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < w.Rows; j++)
            {
                float sum = 0f;
                for (int k = 0; k < Cols; k++)
                {
                    sum = MathF.FusedMultiplyAdd((float)w.Values[(j * Cols) + k], x[(i * Cols) + k], sum);
                }
                y[(i * w.Rows) + j] = sum;
            }
        }
        return y;
    }

    private static float[] Multiply(float[] x, int n, EveryFiniteHalf w)
    {
        var y = new float[n * w.Rows];
        MatMul.Compute(x, n, w.Panels, y, threads: 2);
        return y;
    }

    private static void AssertBits(float[] expected, float[] actual, int n, int rows)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            // A NaN (from Inf·0 in the fallback) may carry any payload; every other value must match to the bit.
            bool same = float.IsNaN(expected[i])
                ? float.IsNaN(actual[i])
                : BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]);
            Assert.True(same, $"n={n}, y[{i / rows}, {i % rows}]: got {actual[i]:R}, expected {expected[i]:R}");
        }
    }

    /// <summary>Every finite half once, row-major in a [rows, cols] F16 matrix marked finite (zeros after), and its panels.</summary>
    private sealed class EveryFiniteHalf : IDisposable
    {
        private readonly Half* _data;

        public EveryFiniteHalf(int cols)
        {
            var finite = new List<Half>();
            for (int bits = 0; bits < 65536; bits++)
            {
                Half h = BitConverter.UInt16BitsToHalf((ushort)bits);
                if (Half.IsFinite(h))
                {
                    finite.Add(h);
                }
            }
            Rows = (finite.Count + cols - 1) / cols;
            Values = new Half[Rows * cols];
            finite.CopyTo(Values);
            _data = (Half*)NativeMemory.AlignedAlloc((nuint)(Values.Length * sizeof(Half)), 64);
            Values.CopyTo(new Span<Half>(_data, Values.Length));
            var rowMajor = new WeightMatrix(_data, DType.F16, Rows, cols) { FiniteVerified = true };
            Panels = PanelPacking.Pack(rowMajor);
            Assert.True(Panels.IsPanels && Panels.FiniteVerified, "the packed copy must be finite-marked panels");
        }

        public int Rows { get; }

        public Half[] Values { get; }

        public WeightMatrix Panels { get; }

        public void Dispose()
        {
            NativeMemory.AlignedFree(Panels.Data);
            NativeMemory.AlignedFree(_data);
        }
    }
}
