namespace Copal.Prune.Numerics;

/// <summary>
/// What the optimal-brain-surgeon sweeps need of one Hessian: its dead inputs (a zero diagonal: the input is always
/// zero; the SparseGPT reference sets that diagonal to 1 and zeroes the input's weights) and U, the upper Cholesky
/// factor of (H + λI)⁻¹ after that fix (<see cref="InverseHessianFactor"/>). Factoring is O(cols³), the largest
/// cost of a sweep at LLaMA scale, so it is done once per Hessian: the linears of one input group (q/k/v, gate/up)
/// share theirs, and COPAL's dense-target shift uses the same U as the sweep after it.
/// </summary>
internal sealed class SweepFactor
{
    private SweepFactor(double[] u, double percentDamp, bool[] dead)
    {
        U = u;
        PercentDamp = percentDamp;
        Dead = dead;
    }

    /// <summary>U [cols, cols] row-major, upper triangular: (H + λI)⁻¹ = UᵀU.</summary>
    public double[] U { get; }

    /// <summary>The dampening fraction that succeeded (more than asked when retries were needed).</summary>
    public double PercentDamp { get; }

    /// <summary>Per input: whether its diagonal was 0.</summary>
    public bool[] Dead { get; }

    /// <summary>Factors <paramref name="hessian"/> [cols, cols] (both halves), which is consumed (overwritten).</summary>
    public static SweepFactor Compute(double[] hessian, int cols, SparseGptOptions options, CancellationToken cancellationToken)
    {
        var dead = new bool[cols];
        for (int j = 0; j < cols; j++)
        {
            long jj = ((long)j * cols) + j;
            if (hessian[jj] == 0)
            {
                dead[j] = true;
                hessian[jj] = 1;
            }
        }
        (double[] u, double percent) = InverseHessianFactor.Compute(hessian, cols, options, cancellationToken);
        return new SweepFactor(u, percent, dead);
    }

    /// <summary>Factors an f32 Hessian as stored (COPAL's state), widened to double first; the input is not changed.</summary>
    public static SweepFactor Compute(float[] hessian, int cols, SparseGptOptions options, CancellationToken cancellationToken)
    {
        var h = new double[hessian.LongLength];
        for (long i = 0; i < h.LongLength; i++)
        {
            h[i] = hessian[i];
        }
        return Compute(h, cols, options, cancellationToken);
    }

    /// <summary>Zeroes the dead inputs' weights in <paramref name="weight"/> [rows, cols], as the reference does.</summary>
    public void ZeroDeadInputs(Span<double> weight, int rows)
    {
        int cols = Dead.Length;
        for (int j = 0; j < cols; j++)
        {
            if (Dead[j])
            {
                for (int r = 0; r < rows; r++)
                {
                    weight[(r * cols) + j] = 0;
                }
            }
        }
    }
}
