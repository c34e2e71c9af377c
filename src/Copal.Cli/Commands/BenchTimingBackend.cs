using System.Diagnostics;
using Copal.Tensors;
using Copal.Tensors.Backends;

namespace Copal.Cli.Commands;

/// <summary>
/// Wraps a backend and, while <see cref="Timing"/> is on, adds up each op's time per category, so
/// <c>copal bench</c> can say where a decode step goes (matmuls vs lm_head vs attention vs norms) without touching
/// the model code. On a backend that times its own queue (<see cref="IDeviceTimer"/>: a GPU, or ILGPU's CPU
/// accelerator) an op's time is the device's, between queue markers, and the host's time issuing it is kept apart;
/// elsewhere it is the wall time of the op, synchronized. Either way a timed op waits for the queue, which on a GPU
/// costs it its pipelining, so the rates are measured with timing off.
/// </summary>
internal sealed class BenchTimingBackend(IBackend inner, string lmHeadName) : IBackend, ISparseWeightLoader, IWeightCopier
{
    /// <summary>The inner backend's copy, or its weight where it holds no copies (a device's upload is one).</summary>
    public DeviceWeight LoadWeightCopy(TensorView view, CancellationToken cancellationToken = default) => inner is IWeightCopier copier
        ? copier.LoadWeightCopy(view, cancellationToken)
        : inner.LoadWeight(view);

    public DeviceWeight LoadSparseWeight(Copal.Tensors.Sparse.SparseMatrix matrix) => inner is ISparseWeightLoader loader
        ? loader.LoadSparseWeight(matrix)
        : throw new NotSupportedException($"backend {inner.Info.Kind} has no sparse kernels for '{matrix.Name}'");

    public bool ConvertsDenseWeights => inner is ISparseWeightLoader loader && loader.ConvertsDenseWeights;

    private readonly Dictionary<string, OpTotal> _totals = [];
    private IDeviceTimer? _device = inner as IDeviceTimer;

    public IReadOnlyDictionary<string, OpTotal> Totals => _totals;

    /// <summary>Whether op times are the device's (queue markers) rather than synchronized wall times.</summary>
    public bool TimesTheDevice => _device is not null;

    /// <summary>Times ops by the synchronized wall clock from now on, as where the backend has no device timer.</summary>
    public void UseWallClock() => _device = null;

    public void Reset() => _totals.Clear();

    /// <summary>Whether ops are timed (and synchronized); off, the wrapper only passes calls on.</summary>
    public bool Timing { get; set; }

    public BackendInfo Info => inner.Info;

    // As the device says: a benched device model then keeps no mapping of its files, as a served one does.
    public bool CopiesWeightsAtLoad => inner.CopiesWeightsAtLoad;

    public Action<string>? Log { get => inner.Log; set => inner.Log = value; }

    public DeviceBuffer Allocate(long length) => inner.Allocate(length);
    public void Upload(ReadOnlySpan<float> source, DeviceBuffer destination, long destinationOffset = 0) => inner.Upload(source, destination, destinationOffset);
    public void Download(DeviceBuffer source, Span<float> destination, long sourceOffset = 0) => inner.Download(source, destination, sourceOffset);
    public DeviceWeight LoadWeight(TensorView view) => inner.LoadWeight(view);
    public DeviceBuffer LoadVector(TensorView view) => inner.LoadVector(view);
    public void Synchronize() => inner.Synchronize();

    public void MatMul(DeviceBuffer x, DeviceWeight weight, DeviceBuffer y, int rows)
    {
        long t = Start();
        inner.MatMul(x, weight, y, rows);
        Stop(weight.Name == lmHeadName ? "lm_head" : "matmul " + ShortName(weight.Name), t, weight.StoredBytes);
    }

    public void AddBias(DeviceBuffer y, DeviceBuffer bias, int rows, int cols) { long t = Start(); inner.AddBias(y, bias, rows, cols); Stop("bias", t); }
    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps) { long t = Start(); inner.RmsNorm(x, weight, y, rows, dim, eps); Stop("rmsnorm", t); }
    public void Rope(DeviceBuffer x, DeviceBuffer cos, DeviceBuffer sin, int rows, int heads, int headDim, int rotaryDim, int startPos) { long t = Start(); inner.Rope(x, cos, sin, rows, heads, headDim, rotaryDim, startPos); Stop("rope", t); }

    // A fused op the inner backend runs fused is timed as one; one it would run as plain ops is run as them here, so
    // the profile shows each of those ops (the CPU's profile keeps q_proj, k_proj, … apart).

    public void MatMulTriple(DeviceBuffer x, DeviceWeight w0, DeviceBuffer y0, DeviceWeight w1, DeviceBuffer y1, DeviceWeight w2, DeviceBuffer y2, int rows)
    {
        if (!Fuses(BackendOp.MatMulTriple))
        {
            FusedOps.MatMulTriple(this, x, w0, y0, w1, y1, w2, y2, rows);
            return;
        }
        long t = Start();
        inner.MatMulTriple(x, w0, y0, w1, y1, w2, y2, rows);
        Stop($"matmul {ShortName(w0.Name)}+{ShortName(w1.Name)}+{ShortName(w2.Name)}", t, w0.StoredBytes + w1.StoredBytes + w2.StoredBytes);
    }

    public void MatMulSiluGate(DeviceBuffer x, DeviceWeight gate, DeviceWeight up, DeviceBuffer output, DeviceBuffer upScratch, int rows)
    {
        if (!Fuses(BackendOp.MatMulSiluGate))
        {
            FusedOps.MatMulSiluGate(this, x, gate, up, output, upScratch, rows);
            return;
        }
        long t = Start();
        inner.MatMulSiluGate(x, gate, up, output, upScratch, rows);
        Stop($"matmul {ShortName(gate.Name)}+{ShortName(up.Name)}, silu·mul", t, gate.StoredBytes + up.StoredBytes);
    }

    public void AddRmsNorm(DeviceBuffer x, DeviceBuffer delta, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps)
    {
        if (!Fuses(BackendOp.AddRmsNorm))
        {
            FusedOps.AddRmsNorm(this, x, delta, weight, y, rows, dim, eps);
            return;
        }
        long t = Start();
        inner.AddRmsNorm(x, delta, weight, y, rows, dim, eps);
        Stop("residual add + rmsnorm", t);
    }

    public void RopeAndStore(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, DeviceBuffer cos, DeviceBuffer sin, DeviceBuffer kCache, DeviceBuffer vCache, in AttentionShape shape)
    {
        if (!Fuses(BackendOp.RopeAndStore))
        {
            FusedOps.RopeAndStore(this, q, k, v, cos, sin, kCache, vCache, shape);
            return;
        }
        long t = Start();
        inner.RopeAndStore(q, k, v, cos, sin, kCache, vCache, shape);
        Stop("rope + kv store", t);
    }

    public void BatchRowAttention(DeviceBuffer q, DeviceBuffer k, DeviceBuffer v, int row, DeviceBuffer cos, DeviceBuffer sin,
        DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in RowScratch scratch, in AttentionShape shape)
    {
        if (!Fuses(BackendOp.BatchRowAttention))
        {
            FusedOps.BatchRowAttention(this, q, k, v, row, cos, sin, kCache, vCache, output, scratch, shape);
            return;
        }
        long t = Start();
        inner.BatchRowAttention(q, k, v, row, cos, sin, kCache, vCache, output, scratch, shape);
        Stop("batch row: rope + kv store + attention", t);
    }

    public void Attention(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in AttentionShape shape) { long t = Start(); inner.Attention(q, kCache, vCache, output, shape); Stop("attention", t); }
    public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count) { long t = Start(); inner.Copy(source, sourceOffset, destination, destinationOffset, count); Stop("copy", t); }
    public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count) { long t = Start(); inner.SiluMul(gate, up, output, count); Stop("silu·mul", t); }
    public void GeluTanhMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count) { long t = Start(); inner.GeluTanhMul(gate, up, output, count); Stop("gelu·mul", t); }
    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output, long count) { long t = Start(); inner.Add(a, b, output, count); Stop("residual add", t); }
    public void Scale(DeviceBuffer x, float factor, long count) { long t = Start(); inner.Scale(x, factor, count); Stop("scale", t); }
    public void Embedding(DeviceWeight table, ReadOnlySpan<int> tokens, DeviceBuffer output) { long t = Start(); inner.Embedding(table, tokens, output); Stop("embedding", t); }
    public void Softmax(DeviceBuffer x, int rows, int cols) { long t = Start(); inner.Softmax(x, rows, cols); Stop("softmax", t); }
    public void AccumulateGram(DeviceBuffer x, int rows, int cols, DeviceBuffer gram) => inner.AccumulateGram(x, rows, cols, gram);
    public void AccumulateColumnSquares(DeviceBuffer x, int rows, int cols, DeviceBuffer sums) => inner.AccumulateColumnSquares(x, rows, cols, sums);
    public void Dispose() => inner.Dispose();

    private bool Fuses(BackendOp op) => inner is IPartialBackend partial && partial.Supports(op);

    private long Start()
    {
        if (!Timing)
        {
            return 0;
        }
        _device?.Begin();
        return Stopwatch.GetTimestamp();
    }

    /// <param name="what">The op's category in the profile.</param>
    /// <param name="start">What <see cref="Start"/> returned.</param>
    /// <param name="bytes">Weight bytes the op streams (a matmul's), so the profile can give its rate.</param>
    private void Stop(string what, long start, long bytes = 0)
    {
        if (!Timing)
        {
            return;
        }
        double issue = Stopwatch.GetElapsedTime(start).TotalSeconds;
        double seconds;
        bool covered = true;
        if (_device is null)
        {
            inner.Synchronize();
            seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        }
        else
        {
            (seconds, covered) = _device.End();
        }
        OpTotal total = _totals.GetValueOrDefault(what);
        _totals[what] = new OpTotal(total.Seconds + seconds, total.IssueSeconds + issue, total.Calls + 1, total.Bytes + bytes,
            total.Uncovered + (covered ? 0 : 1));
    }

    /// <summary>model.layers.3.mlp.up_proj.weight → up_proj.</summary>
    private static string ShortName(string name)
    {
        string[] parts = name.Split('.');
        return parts.Length >= 2 ? parts[^2] : name;
    }
}

/// <summary>One op category's timed calls.</summary>
/// <param name="Seconds">Device time (queue markers), or synchronized wall time where the backend has no device timer.</param>
/// <param name="IssueSeconds">The host's time in the op's call, before any wait for the queue.</param>
/// <param name="Calls">Timed calls.</param>
/// <param name="Bytes">Weight bytes streamed (matmuls).</param>
/// <param name="Uncovered">Calls whose issuing outlasted the device timer's hold (their device time includes some issue time).</param>
internal readonly record struct OpTotal(double Seconds, double IssueSeconds, long Calls, long Bytes, long Uncovered);
