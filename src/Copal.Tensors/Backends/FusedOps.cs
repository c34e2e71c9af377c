namespace Copal.Tensors.Backends;

/// <summary>
/// The fused ops of <see cref="IBackend"/> as the sequences of plain ops they stand for: the default bodies, and what
/// a wrapper runs when its device lacks the fused op.
/// </summary>
internal static class FusedOps
{
    /// <summary><see cref="IBackend.MatMulTriple"/> as three <see cref="IBackend.MatMul"/> calls on <paramref name="b"/>.</summary>
    public static void MatMulTriple(IBackend b, DeviceBuffer x, DeviceWeight w0, DeviceBuffer y0, DeviceWeight w1, DeviceBuffer y1, DeviceWeight w2, DeviceBuffer y2, int rows)
    {
        ArgumentNullException.ThrowIfNull(b);
        CheckTripleBuffers(x, y0, y1, y2);
        b.MatMul(x, w0, y0, rows);
        b.MatMul(x, w1, y1, rows);
        b.MatMul(x, w2, y2, rows);
    }

    /// <summary><see cref="IBackend.MatMulSiluGate"/> as two <see cref="IBackend.MatMul"/> calls and a <see cref="IBackend.SiluMul"/> on <paramref name="b"/>.</summary>
    public static void MatMulSiluGate(IBackend b, DeviceBuffer x, DeviceWeight gate, DeviceWeight up, DeviceBuffer output, DeviceBuffer upScratch, int rows)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(gate);
        CheckSiluGateBuffers(x, output, upScratch);
        b.MatMul(x, gate, output, rows);
        b.MatMul(x, up, upScratch, rows);
        b.SiluMul(output, upScratch, output, (long)rows * gate.Rows);
    }

    /// <summary><see cref="IBackend.AddRmsNorm"/> as <see cref="IBackend.Add"/> into x, then <see cref="IBackend.RmsNorm"/>, on <paramref name="b"/>.</summary>
    public static void AddRmsNorm(IBackend b, DeviceBuffer x, DeviceBuffer delta, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps)
    {
        ArgumentNullException.ThrowIfNull(b);
        CheckAddRmsNormBuffers(x, delta, y);
        b.Add(x, delta, x, (long)rows * dim);
        b.RmsNorm(x, weight, y, rows, dim, eps);
    }

    /// <summary><see cref="IBackend.RopeAndStore"/> as two <see cref="IBackend.Rope"/> and two <see cref="IBackend.Copy"/> calls on <paramref name="b"/>.</summary>
    public static void RopeAndStore(IBackend b, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer cos, DeviceBuffer sin,
        DeviceBuffer kCache, DeviceBuffer vCache, in AttentionShape shape)
    {
        ArgumentNullException.ThrowIfNull(b);
        b.Rope(q, cos, sin, shape.Rows, shape.Heads, shape.HeadDim, shape.Rotary, shape.StartPos);
        b.Rope(k, cos, sin, shape.Rows, shape.KvHeads, shape.HeadDim, shape.Rotary, shape.StartPos);
        // The cache rows of the positions (RoPE above used the positions themselves).
        long kvDim = (long)shape.KvHeads * shape.HeadDim, row = shape.InCache().StartPos;
        b.Copy(k, 0, kCache, row * kvDim, shape.Rows * kvDim);
        b.Copy(v, 0, vCache, row * kvDim, shape.Rows * kvDim);
    }

    /// <summary>
    /// <see cref="IBackend.BatchRowAttention"/> as row copies into <paramref name="scratch"/>, <see cref="IBackend.RopeAndStore"/>,
    /// <see cref="IBackend.Attention"/> and a copy back, on <paramref name="b"/>.
    /// </summary>
    public static void BatchRowAttention(IBackend b, DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, int row, DeviceBuffer cos, DeviceBuffer sin,
        DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in RowScratch scratch, in AttentionShape shape)
    {
        ArgumentNullException.ThrowIfNull(b);
        CheckBatchRow(row, shape);
        long qDim = (long)shape.Heads * shape.HeadDim, kvDim = (long)shape.KvHeads * shape.HeadDim;
        b.Copy(q, row * qDim, scratch.Q, 0, qDim);
        b.Copy(k, row * kvDim, scratch.K, 0, kvDim);
        b.Copy(v, row * kvDim, scratch.V, 0, kvDim);
        b.RopeAndStore(scratch.Q, scratch.K, scratch.V, cos, sin, kCache, vCache, shape);
        b.Attention(scratch.Q, kCache, vCache, scratch.Output, shape);
        b.Copy(scratch.Output, 0, output, row * qDim, qDim);
    }

    /// <summary>BatchRowAttention works on one decode row: shape.Rows is 1 and the row index is not negative.</summary>
    public static void CheckBatchRow(int row, in AttentionShape shape)
    {
        if (shape.Rows != 1 || row < 0)
        {
            throw new ArgumentException(FormattableString.Invariant($"BatchRowAttention: one row a call (shape.Rows = 1) at a row index ≥ 0, got {shape.Rows} rows at row {row}"), nameof(row));
        }
    }

    /// <summary>
    /// A matmul's output must be apart from its input: each output row reads its whole input row, and on a GPU the
    /// groups writing y run at the same time as those still reading x.
    /// </summary>
    public static void CheckMatMulBuffers(DeviceBuffer x, DeviceBuffer y)
    {
        if (ReferenceEquals(x, y))
        {
            throw new ArgumentException("MatMul: the output y must be a buffer apart from the input x", nameof(y));
        }
    }

    /// <summary>MatMulTriple's four buffers must be apart: x as for <see cref="CheckMatMulBuffers"/>, and the fused kernel writes all three outputs at once.</summary>
    public static void CheckTripleBuffers(DeviceBuffer x, DeviceBuffer y0, DeviceBuffer y1, DeviceBuffer y2)
    {
        if (ReferenceEquals(y0, x) || ReferenceEquals(y1, x) || ReferenceEquals(y2, x)
            || ReferenceEquals(y0, y1) || ReferenceEquals(y0, y2) || ReferenceEquals(y1, y2))
        {
            throw new ArgumentException("MatMulTriple: x, y0, y1 and y2 must be four buffers", nameof(y0));
        }
    }

    /// <summary>MatMulSiluGate's three buffers must be apart: the plain ops read x after writing the other two.</summary>
    public static void CheckSiluGateBuffers(DeviceBuffer x, DeviceBuffer output, DeviceBuffer upScratch)
    {
        if (ReferenceEquals(output, x) || ReferenceEquals(upScratch, x) || ReferenceEquals(output, upScratch))
        {
            throw new ArgumentException("MatMulSiluGate: x, output and upScratch must be three buffers", nameof(output));
        }
    }

    /// <summary>AddRmsNorm's output must be apart from x, which keeps the sum, and from delta.</summary>
    public static void CheckAddRmsNormBuffers(DeviceBuffer x, DeviceBuffer delta, DeviceBuffer y)
    {
        if (ReferenceEquals(y, x) || ReferenceEquals(y, delta))
        {
            throw new ArgumentException("AddRmsNorm: y must not alias x or delta (x keeps the sum)", nameof(y));
        }
    }
}
