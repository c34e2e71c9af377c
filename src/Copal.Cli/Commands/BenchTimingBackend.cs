using System.Diagnostics;
using Copal.Tensors;
using Copal.Tensors.Backends;

namespace Copal.Cli.Commands;

/// <summary>
/// Wraps a backend and, while <see cref="Timing"/> is on, adds each op's wall time to a per-category total, so
/// <c>copal bench</c> can say where a decode step goes (matmuls vs lm_head vs attention vs norms) without touching
/// the model code. A timed op synchronizes after it: free on the CPU, but on a GPU it costs the queue its
/// pipelining (hundreds of round trips a token), so the rates are measured with timing off.
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

    private readonly Dictionary<string, (double Seconds, long Calls)> _totals = [];

    public IReadOnlyDictionary<string, (double Seconds, long Calls)> Totals => _totals;

    public void Reset() => _totals.Clear();

    /// <summary>Whether ops are timed (and synchronized); off, the wrapper only passes calls on.</summary>
    public bool Timing { get; set; }

    public BackendInfo Info => inner.Info;

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
        Stop(weight.Name == lmHeadName ? "lm_head" : "matmul " + ShortName(weight.Name), t);
    }

    public void AddBias(DeviceBuffer y, DeviceBuffer bias, int rows, int cols) { long t = Start(); inner.AddBias(y, bias, rows, cols); Stop("bias", t); }
    public void RmsNorm(DeviceBuffer x, DeviceBuffer weight, DeviceBuffer y, int rows, int dim, float eps) { long t = Start(); inner.RmsNorm(x, weight, y, rows, dim, eps); Stop("rmsnorm", t); }
    public void Rope(DeviceBuffer x, DeviceBuffer cos, DeviceBuffer sin, int rows, int heads, int headDim, int startPos) { long t = Start(); inner.Rope(x, cos, sin, rows, heads, headDim, startPos); Stop("rope", t); }
    public void Attention(DeviceBuffer q, DeviceBuffer kCache, DeviceBuffer vCache, DeviceBuffer output, in AttentionShape shape) { long t = Start(); inner.Attention(q, kCache, vCache, output, shape); Stop("attention", t); }
    public void Copy(DeviceBuffer source, long sourceOffset, DeviceBuffer destination, long destinationOffset, long count) { long t = Start(); inner.Copy(source, sourceOffset, destination, destinationOffset, count); Stop("copy (kv cache)", t); }
    public void SiluMul(DeviceBuffer gate, DeviceBuffer up, DeviceBuffer output, long count) { long t = Start(); inner.SiluMul(gate, up, output, count); Stop("silu·mul", t); }
    public void Add(DeviceBuffer a, DeviceBuffer b, DeviceBuffer output, long count) { long t = Start(); inner.Add(a, b, output, count); Stop("residual add", t); }
    public void Embedding(DeviceWeight table, ReadOnlySpan<int> tokens, DeviceBuffer output) { long t = Start(); inner.Embedding(table, tokens, output); Stop("embedding", t); }
    public void Softmax(DeviceBuffer x, int rows, int cols) { long t = Start(); inner.Softmax(x, rows, cols); Stop("softmax", t); }
    public void AccumulateGram(DeviceBuffer x, int rows, int cols, DeviceBuffer gram) => inner.AccumulateGram(x, rows, cols, gram);
    public void AccumulateColumnSquares(DeviceBuffer x, int rows, int cols, DeviceBuffer sums) => inner.AccumulateColumnSquares(x, rows, cols, sums);
    public void Dispose() => inner.Dispose();

    private long Start() => Timing ? Stopwatch.GetTimestamp() : 0;

    private void Stop(string what, long start)
    {
        if (!Timing)
        {
            return;
        }
        inner.Synchronize();
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        _totals[what] = _totals.TryGetValue(what, out var v) ? (v.Seconds + seconds, v.Calls + 1) : (seconds, 1);
    }

    /// <summary>model.layers.3.mlp.up_proj.weight → up_proj.</summary>
    private static string ShortName(string name)
    {
        string[] parts = name.Split('.');
        return parts.Length >= 2 ? parts[^2] : name;
    }
}
