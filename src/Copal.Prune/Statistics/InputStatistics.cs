namespace Copal.Prune;

/// <summary>
/// Running statistics of one linear layer's input X [tokens, Columns] over calibration sequences:
/// Wanda's per-column mean square and, optionally, SparseGPT's Hessian H = (2/N_seq)·Σ XᵀX.
/// Both are kept as running means over sequences in double, folded in the same order as the reference
/// implementations (scale the old mean by n/(n+1), then add the new sequence's sum divided by n+1), so
/// the result matches them to the last bit given the same per-sequence sums.
/// </summary>
public sealed class InputStatistics
{
    private readonly double[] _columnMeanSquares;
    private readonly double[]? _hessian;

    /// <param name="columns">The layer's input dimension.</param>
    /// <param name="collectHessian">Whether to accumulate the Hessian (SparseGPT); it costs columns² doubles.</param>
    public InputStatistics(int columns, bool collectHessian)
    {
        if (columns <= 0)
        {
            throw new PruningShapeException(FormattableString.Invariant($"input statistics need at least one column, got {columns}"), nameof(columns));
        }
        Columns = columns;
        _columnMeanSquares = new double[columns];
        _hessian = collectHessian ? new double[(long)columns * columns] : null;
    }

    /// <summary>
    /// Statistics that hold a given Hessian H [columns, columns] (row-major, copied) instead of ones folded from
    /// sequences, e.g. a Hessian accumulated across datasets. The column mean squares are diag(H)/2, what
    /// <see cref="AddSequence(ReadOnlySpan{float}, int)"/> would give for the same inputs (H = (2/N)·Σ XᵀX).
    /// <paramref name="sequences"/> (≥ 1) is how many calibration sequences H stands for (the methods refuse
    /// statistics of 0 sequences); <see cref="Tokens"/> is 0.
    /// </summary>
    /// <exception cref="PruningShapeException">The Hessian is not [columns, columns].</exception>
    public static InputStatistics FromHessian(ReadOnlySpan<double> hessian, int columns, int sequences = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(sequences, 1);
        if (columns <= 0)
        {
            throw new PruningShapeException(FormattableString.Invariant($"input statistics need at least one column, got {columns}"), nameof(columns));
        }
        CheckLength(hessian.Length, (long)columns * columns, nameof(hessian));
        var stats = new InputStatistics(columns, hessian.ToArray()) { Sequences = sequences };
        for (int j = 0; j < columns; j++)
        {
            stats._columnMeanSquares[j] = hessian[(j * columns) + j] / 2;
        }
        return stats;
    }

    private InputStatistics(int columns, double[] hessian)
    {
        Columns = columns;
        _columnMeanSquares = new double[columns];
        _hessian = hessian;
    }

    /// <summary>The input dimension.</summary>
    public int Columns { get; }

    /// <summary>
    /// With <see cref="Driver.StatisticsUpstream.Mixed"/> collection: the statistics of the same calibration tokens'
    /// inputs to this linear through the <b>dense</b> upstream layers (these statistics are through the upstream as
    /// pruned in this run). Null otherwise, and after COPAL has folded it into its state (the dense side is needed once).
    /// </summary>
    public InputStatistics? DenseUpstream { get; internal set; }

    /// <summary>
    /// K = Σ_t (x_dense,t − x_t)·x_tᵀ [cols, cols] at the scale of <see cref="Hessian"/> (2/sequences), row index
    /// over the shift, column index over this input: the cross term of asymmetric calibration, which reconstructs the
    /// dense model's output from the pruned upstream's inputs (<c>--dense-target</c>). Collected through both
    /// upstreams over the same tokens when the pruner asks for it; null otherwise. COPAL overwrites it with the K pooled
    /// over the datasets seen (at LLaMA-7B's down_proj a second f64 copy would be 0.97 GB).
    /// </summary>
    public double[]? UpstreamShift { get; internal set; }

    /// <summary>Whether <see cref="Hessian"/> is collected.</summary>
    public bool HasHessian => _hessian is not null;

    /// <summary>Sequences folded in so far (the N_seq of the means).</summary>
    public int Sequences { get; private set; }

    /// <summary>Tokens folded in so far.</summary>
    public long Tokens { get; private set; }

    /// <summary>Wanda's scaler_row: (1/N_seq)·Σ_tokens X[t, j]², one value per input column.</summary>
    public ReadOnlySpan<double> ColumnMeanSquares => _columnMeanSquares;

    /// <summary>
    /// H = (2/N_seq)·Σ XᵀX, [Columns, Columns] row-major. This is the live buffer (it can be hundreds of MB):
    /// read it, do not modify it.
    /// </summary>
    /// <exception cref="InvalidOperationException">The statistics were created without a Hessian.</exception>
    public double[] Hessian => _hessian
        ?? throw new InvalidOperationException("these input statistics were created without a Hessian (collectHessian: false); SparseGPT needs one");

    /// <summary>
    /// Folds in one sequence given its per-column sums of squares Σ_t x[t, j]² and, when <see cref="HasHessian"/>,
    /// its Gram matrix Σ_t x[t]ᵀx[t] [Columns·Columns] (ignored otherwise; pass an empty span).
    /// </summary>
    public void AddSequence(ReadOnlySpan<float> columnSquares, ReadOnlySpan<float> gram, int tokens)
    {
        CheckLength(columnSquares.Length, Columns, nameof(columnSquares));
        if (_hessian is not null)
        {
            CheckLength(gram.Length, _hessian.LongLength, nameof(gram));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        int previous = Sequences;
        int next = previous + 1;
        Fold(_columnMeanSquares, previous, next, columnSquares, 1.0);
        if (_hessian is not null)
        {
            Fold(_hessian, previous, next, gram, 2.0);
        }
        Sequences = next;
        Tokens += tokens;
    }

    /// <summary>Fills <paramref name="destination"/> with a sequence's Gram matrix from element <paramref name="offset"/> on.</summary>
    internal delegate void GramSlice(long offset, Span<float> destination);

    /// <summary>
    /// <see cref="AddSequence(ReadOnlySpan{float}, ReadOnlySpan{float}, int)"/> with the Gram matrix read in pieces
    /// of <paramref name="buffer"/>'s length through <paramref name="readGram"/>: the same bits (the fold is element by
    /// element) without a whole f32 host copy of it (0.48 GB for LLaMA-7B's down_proj input).
    /// </summary>
    internal void AddSequence(ReadOnlySpan<float> columnSquares, GramSlice readGram, Span<float> buffer, int tokens)
    {
        ArgumentNullException.ThrowIfNull(readGram);
        CheckLength(columnSquares.Length, Columns, nameof(columnSquares));
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfZero(buffer.Length);
        int previous = Sequences;
        int next = previous + 1;
        Fold(_columnMeanSquares, previous, next, columnSquares, 1.0);
        if (_hessian is not null)
        {
            for (int offset = 0; offset < _hessian.Length; offset += buffer.Length)
            {
                Span<float> slice = buffer[..Math.Min(buffer.Length, _hessian.Length - offset)];
                readGram(offset, slice);
                Fold(_hessian.AsSpan(offset, slice.Length), previous, next, slice, 2.0);
            }
        }
        Sequences = next;
        Tokens += tokens;
    }

    /// <summary>Folds in one sequence X [tokens, Columns] row-major, computing its sums in double.</summary>
    public void AddSequence(ReadOnlySpan<float> x, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        CheckLength(x.Length, (long)tokens * Columns, nameof(x));
        int c = Columns;
        var squares = new double[c];
        double[]? gram = _hessian is null ? null : new double[(long)c * c];
        // Token by token, so every sum is accumulated in the same order as the reference script's.
        for (int t = 0; t < tokens; t++)
        {
            ReadOnlySpan<float> row = x.Slice(t * c, c);
            for (int j = 0; j < c; j++)
            {
                double v = row[j];
                squares[j] += v * v;
            }
            if (gram is not null)
            {
                for (int i = 0; i < c; i++)
                {
                    double vi = row[i];
                    Span<double> g = gram.AsSpan(i * c, c);
                    for (int j = 0; j < c; j++)
                    {
                        g[j] += vi * row[j];
                    }
                }
            }
        }
        int previous = Sequences;
        int next = previous + 1;
        Fold(_columnMeanSquares, previous, next, squares, 1.0);
        if (_hessian is not null)
        {
            Fold(_hessian, previous, next, gram!, 2.0);
        }
        Sequences = next;
        Tokens += tokens;
    }

    /// <summary>
    /// Pools <paramref name="other"/> into this: the result equals the statistics of both sample sets together
    /// (means weighted by their sequence counts).
    /// </summary>
    /// <exception cref="PruningShapeException">Different column counts, or this has a Hessian and the other does not.</exception>
    public void Merge(InputStatistics other)
    {
        ArgumentNullException.ThrowIfNull(other);
        if (other.Columns != Columns)
        {
            throw new PruningShapeException($"cannot merge input statistics of {other.Columns} columns into {Columns} columns", nameof(other));
        }
        if (HasHessian && !other.HasHessian)
        {
            throw new PruningShapeException("cannot merge input statistics without a Hessian into statistics that have one", nameof(other));
        }
        if (other.Sequences == 0)
        {
            return;
        }
        int total = Sequences + other.Sequences;
        double a = (double)Sequences / total;
        double b = (double)other.Sequences / total;
        Pool(_columnMeanSquares, other._columnMeanSquares, a, b);
        if (_hessian is not null)
        {
            Pool(_hessian, other._hessian!, a, b);
        }
        Sequences = total;
        Tokens += other.Tokens;
    }

    // mean ← mean·(n/(n+1)) + scale·sum/(n+1): the references' update (Wanda divides by n, SparseGPT scales by 2/n).
    private static void Fold(Span<double> mean, int previous, int next, ReadOnlySpan<float> sum, double scale)
    {
        double keep = (double)previous / next;
        double add = scale / next;
        for (int i = 0; i < mean.Length; i++)
        {
            mean[i] = mean[i] * keep + (scale == 1.0 ? sum[i] / (double)next : add * sum[i]);
        }
    }

    private static void Fold(double[] mean, int previous, int next, double[] sum, double scale)
    {
        double keep = (double)previous / next;
        double add = scale / next;
        for (int i = 0; i < mean.Length; i++)
        {
            mean[i] = mean[i] * keep + (scale == 1.0 ? sum[i] / next : add * sum[i]);
        }
    }

    private static void Pool(double[] mine, double[] theirs, double a, double b)
    {
        for (int i = 0; i < mine.Length; i++)
        {
            mine[i] = mine[i] * a + theirs[i] * b;
        }
    }

    private static void CheckLength(long actual, long expected, string name)
    {
        if (actual != expected)
        {
            throw new PruningShapeException($"'{name}' has {actual} elements, expected {expected}", name);
        }
    }
}
