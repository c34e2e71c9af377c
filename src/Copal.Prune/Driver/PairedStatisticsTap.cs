using Copal.Model.Inference;
using Copal.Model.Weights;
using Copal.Tensors.Backends;
using Copal.Tensors.Kernels;

namespace Copal.Prune.Driver;

/// <summary>
/// Statistics of every wanted linear's input through two upstreams over the same tokens: each sample runs once through
/// the dense upstream (<see cref="DensePass"/> true) and once through the pruned one. Each pass feeds its own
/// <see cref="StatisticsTap"/> (the dense side's Gram only where <paramref name="denseHessian"/> asks, for
/// <see cref="StatisticsUpstream.Mixed"/> and <see cref="StatisticsUpstream.DensePast"/>); with
/// <paramref name="upstreamShift"/> the cross term K = Σ (x_dense − x)·xᵀ of asymmetric calibration is accumulated
/// on the host from both passes' inputs (<see cref="InputStatistics.UpstreamShift"/>).
/// With <paramref name="sameInputs"/> (no layer pruned yet: both upstreams give these inputs to the bit) only the
/// pruned pass runs: the statistics carry no dense side, which counts as the same through both upstreams, and K is
/// zero. The dense pass and the host's cross Gram of zeros cost the first pruned layer of a 7B model minutes a step.
/// </summary>
internal sealed class PairedStatisticsTap(IBackend backend, int layer, IReadOnlyDictionary<LinearId, int> leaderColumns, bool denseHessian, bool upstreamShift, bool sameInputs) : IForwardTap, IDisposable
{
    private readonly StatisticsTap _pruned = new(backend, layer, leaderColumns, collectHessian: true);
    private readonly StatisticsTap _dense = new(backend, layer, leaderColumns, collectHessian: denseHessian && !sameInputs);
    private readonly Dictionary<LinearId, Shift> _shifts = upstreamShift ? leaderColumns.ToDictionary(kv => kv.Key, kv => new Shift(kv.Value)) : [];
    private int _sequences;

    /// <summary>Whether the pass now running is the dense upstream's (else the pruned upstream's).</summary>
    public bool DensePass { get; set; }

    public void OnLinearInput(int inputLayer, LinearId linear, DeviceBuffer input, int rows)
    {
        (DensePass ? _dense : _pruned).OnLinearInput(inputLayer, linear, input, rows);
        if (!sameInputs && inputLayer == layer && _shifts.TryGetValue(linear, out Shift? shift))
        {
            shift.Add(backend, input, rows, DensePass);
        }
    }

    /// <summary>Folds the sample just run (both passes) into the statistics.</summary>
    public void FoldSample()
    {
        _dense.FoldSample();
        _pruned.FoldSample();
        foreach (Shift shift in _shifts.Values)
        {
            shift.Fold();
        }
        _sequences++;
    }

    /// <summary>
    /// The statistics through the pruned upstream, per group leader, each with its dense side (where its Gram was kept
    /// and the inputs differ) and its shift (zero for the same inputs) attached.
    /// </summary>
    public IReadOnlyDictionary<LinearId, InputStatistics> Statistics()
    {
        IReadOnlyDictionary<LinearId, InputStatistics> pruned = _pruned.Statistics, dense = _dense.Statistics;
        foreach ((LinearId leader, InputStatistics stats) in pruned)
        {
            if (denseHessian && !sameInputs)
            {
                stats.DenseUpstream = dense[leader];
            }
            if (_shifts.TryGetValue(leader, out Shift? shift))
            {
                stats.UpstreamShift = shift.Mean(_sequences);
            }
        }
        return pruned;
    }

    public void Dispose()
    {
        _pruned.Dispose();
        _dense.Dispose();
    }

    // One input group's cross term: the dense pass's input is kept until the pruned pass of the same sample arrives.
    private sealed class Shift(int cols)
    {
        private readonly double[] _sum = new double[(long)cols * cols];
        private float[] _dense = [];
        private float[] _pruned = [];
        private float[]? _sample;

        public void Add(IBackend backend, DeviceBuffer input, int rows, bool densePass)
        {
            long length = (long)rows * cols;
            if (densePass)
            {
                _dense = Fit(_dense, length);
                backend.Download(input, _dense.AsSpan(0, (int)length));
                return;
            }
            _pruned = Fit(_pruned, length);
            backend.Download(input, _pruned.AsSpan(0, (int)length));
            for (int i = 0; i < length; i++)
            {
                _dense[i] -= _pruned[i];
            }
            _sample ??= new float[(long)cols * cols];
            CrossGram.Accumulate(_dense.AsSpan(0, (int)length), _pruned.AsSpan(0, (int)length), rows, cols, _sample, threads: 0);
        }

        // Per-sample sums in f32, as the Gram's, then summed in double.
        public void Fold()
        {
            if (_sample is null)
            {
                return;
            }
            for (long i = 0; i < _sum.LongLength; i++)
            {
                _sum[i] += _sample[i];
            }
            Array.Clear(_sample);
        }

        // The Hessian's scale: 2/sequences times the sum over samples, in place (at LLaMA-7B's down_proj a copy is
        // 0.97 GB), once all samples are in.
        public double[] Mean(int sequences)
        {
            double scale = sequences > 0 ? 2.0 / sequences : 0;
            for (long i = 0; i < _sum.LongLength; i++)
            {
                _sum[i] *= scale;
            }
            _sample = null;
            return _sum;
        }

        private static float[] Fit(float[] buffer, long length) => buffer.LongLength >= length ? buffer : new float[length];
    }
}
