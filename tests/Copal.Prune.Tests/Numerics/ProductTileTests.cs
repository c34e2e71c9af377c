using System.Numerics.Tensors;
using Copal.Prune.Continual;
using Copal.Prune.Numerics;

namespace Copal.Prune.Tests.Numerics;

/// <summary>
/// <see cref="ProductTile"/> accumulates each element in ascending k with a multiply and then an add, so its result
/// is the row-at-a-time axpy's to the bit, on both vector paths, with ragged shapes and zeros in A; and the
/// dense-target move built on it equals, to the bit, the row-at-a-time move it replaced.
/// </summary>
public sealed class ProductTileTests
{
    [Theory]
    [InlineData(1, 1, 1, false)]
    [InlineData(7, 37, 45, false)]
    [InlineData(9, 300, 70, false)]
    [InlineData(13, 64, 64, true)]
    [InlineData(6, 301, 301, true)]
    public unsafe void Equals_the_row_at_a_time_axpy_to_the_bit_on_both_vector_paths(int rows, int depth, int width, bool upper)
    {
        double[] a = RandomWithZeros(rows * depth, 1), b = RandomWithZeros(depth * width, 2);
        if (upper)
        {
            for (int k = 0; k < depth; k++)
            {
                for (int j = 0; j < Math.Min(k, width); j++)
                {
                    b[(k * width) + j] = 0;
                }
            }
        }
        double[] start = RandomWithZeros(rows * width, 3);
        double[] expected = (double[])start.Clone();
        for (int r = 0; r < rows; r++)
        {
            Span<double> cr = expected.AsSpan(r * width, width);
            for (int k = 0; k < depth; k++)
            {
                double v = a[(r * depth) + k];
                if (v != 0)
                {
                    TensorPrimitives.MultiplyAdd(b.AsSpan(k * width, width), 0.75 * v, cr, cr);
                }
            }
        }
        foreach (bool wide in new[] { true, false })
        {
            double[] c = (double[])start.Clone();
            fixed (double* ap = a, bp = b, cp = c)
            {
                ProductTile.MultiplyAdd(ap, depth, 0.75, bp, width, cp, width, rows, depth, width, upper, wide);
            }
            Assert.Equal(Bits(expected), Bits(c));
        }
    }

    [Theory]
    [InlineData(5, 12)]
    [InlineData(40, 33)]
    [InlineData(300, 64)]
    public void The_dense_target_move_equals_the_row_at_a_time_move_it_replaced_to_the_bit(int rows, int cols)
    {
        float[] w = [.. RandomWithZeros(rows * cols, 4).Select(v => (float)v)];
        double[] x = RandomWithZeros(4 * cols * cols, 5);
        double[] h = new double[cols * cols], shift = RandomWithZeros(cols * cols, 6);
        for (int t = 0; t < 4 * cols; t++)
        {
            for (int i = 0; i < cols; i++)
            {
                for (int j = 0; j < cols; j++)
                {
                    h[(i * cols) + j] += x[(t * cols) + i] * x[(t * cols) + j];
                }
            }
        }
        SweepFactor factor = SweepFactor.Compute((double[])h.Clone(), cols, new SparseGptOptions(), CancellationToken.None);
        float[] moved = (float[])w.Clone();
        DenseTargetShift.Apply(moved, rows, cols, factor, shift, 0.5, CancellationToken.None);
        float[] expected = RowAtATimeMove(w, rows, cols, factor.U, shift, 0.5);
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), moved.Select(BitConverter.SingleToInt32Bits));
        Assert.NotEqual(w, moved);
    }

    // The move as it was written before the tile (one weight row at a time, axpy and dot on TensorPrimitives).
    private static float[] RowAtATimeMove(float[] weight, int rows, int cols, double[] u, double[] shift, double scale)
    {
        var moved = new float[weight.Length];
        var m = new double[cols];
        var y = new double[cols];
        var x = new double[cols];
        for (int r = 0; r < rows; r++)
        {
            Array.Clear(m);
            Array.Clear(x);
            for (int k = 0; k < cols; k++)
            {
                double v = weight[(r * cols) + k];
                if (v != 0)
                {
                    TensorPrimitives.MultiplyAdd(shift.AsSpan(k * cols, cols), scale * v, m, m);
                }
            }
            for (int j = 0; j < cols; j++)
            {
                y[j] = TensorPrimitives.Dot(m.AsSpan(j), u.AsSpan((j * cols) + j, cols - j));
            }
            for (int k = 0; k < cols; k++)
            {
                if (y[k] != 0)
                {
                    Span<double> tail = x.AsSpan(k);
                    TensorPrimitives.MultiplyAdd(u.AsSpan((k * cols) + k, cols - k), y[k], tail, tail);
                }
            }
            for (int j = 0; j < cols; j++)
            {
                moved[(r * cols) + j] = (float)(weight[(r * cols) + j] + x[j]);
            }
        }
        return moved;
    }

    private static double[] RandomWithZeros(int n, int seed)
    {
        var random = new Random(seed);
        var values = new double[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = random.Next(5) == 0 ? 0 : (random.NextDouble() * 2) - 1;
        }
        return values;
    }

    private static long[] Bits(double[] values) => [.. values.Select(BitConverter.DoubleToInt64Bits)];
}
