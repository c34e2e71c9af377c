namespace Copal.Prune.Continual;

/// <summary>
/// The accumulated sensitivity of one prunable linear [Rows, Cols]: one value per input column (see
/// <see cref="StepSensitivity"/> for why a column vector is the whole state) and, for <c>--update</c> and
/// <c>--mask obs</c>, the accumulated input Gram matrix (kept on the first linear of each input group: q for q/k/v,
/// gate for gate/up). That matrix lives on disk (<see cref="CopalState"/>); it is held in memory only while its layer
/// is pruned.
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
    /// <summary>The weight's output features.</summary>
    public int Rows { get; }
    /// <summary>The weight's input features: the length of the column sensitivity.</summary>
    public int Cols { get; }

    /// <summary>S_j: accumulated column sensitivity; the weight's score is w_ij²·S_j.</summary>
    public double[] Columns { get; }

    /// <summary>Datasets folded into <see cref="Columns"/>.</summary>
    public int Steps { get; internal set; }

    /// <summary>
    /// The accumulated input Hessian [Cols, Cols] f32 while its layer is being pruned (a full symmetric matrix;
    /// stored as its upper triangle); null when it is on disk or not kept (<see cref="HasHessian"/> tells which).
    /// </summary>
    internal float[]? Hessian { get; set; }

    /// <summary>Whether an accumulated Hessian exists (in memory or on disk).</summary>
    public bool HasHessian { get; internal set; }

    /// <summary>Datasets folded into the Hessian.</summary>
    public int HessianSteps { get; internal set; }

    /// <summary>
    /// With <see cref="Driver.StatisticsUpstream.Mixed"/>: the accumulated Gram of the same datasets through the
    /// <b>dense</b> upstream, beside <see cref="Hessian"/> (through the upstream as pruned at each dataset's step);
    /// held like it.
    /// </summary>
    internal float[]? DenseUpstreamHessian { get; set; }

    /// <summary>Whether <see cref="DenseUpstreamHessian"/> exists (in memory or on disk); it has <see cref="HessianSteps"/> datasets too.</summary>
    public bool HasDenseUpstreamHessian { get; internal set; }

    /// <summary>
    /// With <c>--dense-target</c>: the pooled cross term K = Σ (x_dense − x)·xᵀ [Cols, Cols] f32 (not symmetric; stored
    /// whole), each dataset's collected at its own step and weighted like the Hessian; held like it.
    /// </summary>
    internal float[]? CrossTerm { get; set; }

    /// <summary>Whether <see cref="CrossTerm"/> exists (in memory or on disk).</summary>
    public bool HasCrossTerm { get; internal set; }

    /// <summary>Datasets folded into <see cref="CrossTerm"/>.</summary>
    public int CrossTermSteps { get; internal set; }
}
