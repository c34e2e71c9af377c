namespace Copal.Tensors.Kernels;

/// <summary>
/// A weight matrix [Rows = out, Cols = in] in its stored dtype (F32, F16 or BF16), addressed by pointer so that
/// matrices over 2 GiB and memory-mapped checkpoints need no copy. The memory belongs to the caller. Stored
/// row-major (a checkpoint's layout), or in <see cref="WeightLayout.Panels"/> (<see cref="PanelPacking"/>).
/// </summary>
internal readonly unsafe struct WeightMatrix
{
    /// <summary>Rows of one panel of the <see cref="WeightLayout.Panels"/> layout: the GEMM's sliver width, so packing reads a panel as is.</summary>
    public const int PanelRows = GemmMicroKernel.NR;

    /// <summary>Wraps <paramref name="data"/>; throws when the dtype is not a weight float or a dimension is negative.</summary>
    public WeightMatrix(void* data, DType dtype, int rows, int cols)
        : this(data, dtype, rows, cols, WeightLayout.Rows)
    {
    }

    /// <summary>Wraps <paramref name="data"/> stored in <paramref name="layout"/>.</summary>
    public WeightMatrix(void* data, DType dtype, int rows, int cols, WeightLayout layout)
    {
        if (!dtype.IsWeightFloat())
        {
            throw new ArgumentException($"weight dtype must be F32, F16 or BF16, got {dtype}", nameof(dtype));
        }
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        Data = (byte*)data;
        DType = dtype;
        Rows = rows;
        Cols = cols;
        Layout = layout;
    }

    /// <summary>Views a 2-D tensor [out, in] without copying.</summary>
    public static WeightMatrix FromView(in TensorView view)
    {
        if (view.Rank != 2)
        {
            throw new ArgumentException($"tensor '{view.Name}' has shape {view.ShapeString}, expected a 2-D weight [out, in]", nameof(view));
        }
        if (!view.DType.IsWeightFloat())
        {
            throw new ArgumentException($"tensor '{view.Name}' has dtype {view.DType}, expected F32, F16 or BF16", nameof(view));
        }
        return new WeightMatrix(view.Data, view.DType, checked((int)view.Shape[0]), checked((int)view.Shape[1]))
        {
            FiniteVerified = view.FiniteVerified,
        };
    }

    /// <summary>The first byte of the stored values; the caller's memory, which must outlive this view.</summary>
    public byte* Data { get; }

    /// <summary>The stored dtype: F32, F16 or BF16.</summary>
    public DType DType { get; }

    /// <summary>Output features: the matrix's rows, whatever its <see cref="Layout"/>.</summary>
    public int Rows { get; }

    /// <summary>Input features: the matrix's columns, whatever its <see cref="Layout"/>.</summary>
    public int Cols { get; }

    /// <summary>Bytes of one stored element.</summary>
    public int ElementSize => DType == DType.F32 ? 4 : 2;

    /// <summary>How the values are stored: row-major (<see cref="WeightLayout.Rows"/>) or in panels of <see cref="PanelRows"/> rows.</summary>
    public WeightLayout Layout { get; }

    /// <summary>
    /// Whether every value was checked finite (<see cref="TensorView.FiniteVerified"/>): F16 is then converted by
    /// <see cref="F16FiniteLoad"/>, 1.49–1.53× the GEMV rate of the conversion that also handles Inf and NaN
    /// (docs/performance.md). A copy of the matrix (panels, a private copy) keeps it.
    /// </summary>
    public bool FiniteVerified { get; init; }

    /// <summary>Whether the values are stored in <see cref="WeightLayout.Panels"/>, which has no contiguous rows.</summary>
    public bool IsPanels => Layout == WeightLayout.Panels;

    /// <summary>Address of row <paramref name="row"/> of a row-major matrix.</summary>
    public byte* Row(int row)
    {
        System.Diagnostics.Debug.Assert(!IsPanels, "a panel matrix has no contiguous rows");
        return Data + (long)row * Cols * ElementSize;
    }

    /// <summary>Panels of the <see cref="WeightLayout.Panels"/> layout: the last one is padded with zero rows.</summary>
    public int PanelCount => (Rows + PanelRows - 1) / PanelRows;

    /// <summary>Address of panel <paramref name="panel"/>: column k of its rows is the PanelRows elements at k·PanelRows.</summary>
    public byte* Panel(int panel)
    {
        System.Diagnostics.Debug.Assert(IsPanels, "a row-major matrix has no panels");
        return Data + (long)panel * PanelRows * Cols * ElementSize;
    }

    /// <summary>Address of element (row, col) in either layout (embedding lookups in a packed table).</summary>
    internal byte* ElementAddress(int row, int col) => IsPanels
        ? Panel(row / PanelRows) + ((long)col * PanelRows + row % PanelRows) * ElementSize
        : Row(row) + (long)col * ElementSize;

    /// <summary>Stored bytes of the whole matrix (with a panel matrix's padding rows).</summary>
    public long ByteLength => (long)(IsPanels ? PanelCount * PanelRows : Rows) * Cols * ElementSize;
}

/// <summary>How a <see cref="WeightMatrix"/> lays out its elements.</summary>
internal enum WeightLayout
{
    /// <summary>Row-major [Rows, Cols], as a checkpoint stores it.</summary>
    Rows,

    /// <summary>
    /// Panels of <see cref="WeightMatrix.PanelRows"/> rows, each stored column by column: element (r, k) at
    /// panel r / 32, offset k·32 + r % 32. A decode step then reads every weight once, in address order, and
    /// multiplies a whole line of 32 rows by one broadcast input element (<see cref="PanelGemv"/>).
    /// </summary>
    Panels,
}
