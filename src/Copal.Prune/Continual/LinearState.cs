namespace Copal.Prune.Continual;

/// <summary>
/// The accumulated sensitivity of one prunable linear [Rows, Cols]: one value per input column (see
/// <see cref="StepSensitivity"/> for why a column vector is the whole state) and, for <c>--update</c>, the accumulated
/// normalized Hessian of its input (kept on the first linear of each input group: q for q/k/v, gate for gate/up).
/// </summary>
public sealed class LinearState
{
    /// <summary>A fresh, empty state for a linear of the given shape.</summary>
    public LinearState(string name, int rows, int cols)
    {
        Name = name;
        Rows = rows;
        Cols = cols;
        Columns = new double[cols];
    }

    /// <summary>The checkpoint name of the weight ("model.layers.0.self_attn.q_proj.weight").</summary>
    public string Name { get; }
    public int Rows { get; }
    public int Cols { get; }

    /// <summary>S_j: accumulated normalized column sensitivity; the weight's score is w_ij²·S_j.</summary>
    public double[] Columns { get; }

    /// <summary>Datasets folded into <see cref="Columns"/>.</summary>
    public int Steps { get; internal set; }

    /// <summary>Accumulated normalized input Hessian, [Cols, Cols] f32 (or [Cols] when <see cref="HessianIsDiagonal"/>); null when not kept.</summary>
    public float[]? Hessian { get; internal set; }

    /// <summary>Only the diagonal of the Hessian is kept (the full one would exceed the state's size limit).</summary>
    public bool HessianIsDiagonal { get; internal set; }

    /// <summary>Datasets folded into <see cref="Hessian"/>.</summary>
    public int HessianSteps { get; internal set; }
}
