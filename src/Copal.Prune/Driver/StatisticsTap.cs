using Copal.Model.Inference;
using Copal.Model.Weights;
using Copal.Tensors.Backends;

namespace Copal.Prune.Driver;

/// <summary>
/// Attached to the forward pass of one decoder layer, it accumulates the statistics of the wanted linears' inputs
/// on the backend (column squared sums, and XᵀX when a Hessian is needed). After each calibration sample,
/// <see cref="FoldSample"/> moves them into double-precision <see cref="InputStatistics"/> and clears the device sums.
/// q/k/v share one input (statistics kept under QProj), as do gate/up (under GateProj).
/// </summary>
internal sealed class StatisticsTap : IForwardTap, IDisposable
{
    private readonly IBackend _backend;
    private readonly int _layer;
    private readonly Dictionary<LinearId, Accumulator> _accumulators = [];

    public StatisticsTap(IBackend backend, int layer, IReadOnlyDictionary<LinearId, int> leaderColumns, bool collectHessian)
    {
        _backend = backend;
        _layer = layer;
        foreach ((LinearId leader, int cols) in leaderColumns)
        {
            _accumulators[leader] = new Accumulator(backend, cols, collectHessian);
        }
    }

    /// <summary>The statistics so far, per group leader.</summary>
    public IReadOnlyDictionary<LinearId, InputStatistics> Statistics => _accumulators.ToDictionary(kv => kv.Key, kv => kv.Value.Statistics);

    public void OnLinearInput(int layer, LinearId linear, DeviceBuffer input, int rows)
    {
        if (layer != _layer || linear != linear.InputGroupLeader())
        {
            return;
        }
        Accumulate(linear, input, rows);
    }

    /// <summary>Adds the rows of <paramref name="input"/> to the statistics kept under <paramref name="key"/> (also for inputs outside the decoder layers).</summary>
    public void Accumulate(LinearId key, DeviceBuffer input, int rows)
    {
        if (!_accumulators.TryGetValue(key, out Accumulator? acc))
        {
            return;
        }
        _backend.AccumulateColumnSquares(input, rows, acc.Columns, acc.ColumnSquares);
        if (acc.Gram is not null)
        {
            _backend.AccumulateGram(input, rows, acc.Columns, acc.Gram);
        }
        acc.PendingTokens += rows;
    }

    /// <summary>Folds the sample just run into the double-precision statistics.</summary>
    public void FoldSample()
    {
        foreach (Accumulator acc in _accumulators.Values)
        {
            acc.Fold(_backend);
        }
    }

    public void Dispose()
    {
        foreach (Accumulator acc in _accumulators.Values)
        {
            acc.Dispose();
        }
    }

    /// <summary>Floats per piece in which a Gram matrix's sums move to the host (see Accumulator).</summary>
    internal const int GramPiece = 1 << 20;

    private sealed class Accumulator : IDisposable
    {
        // The Gram sums move to the host in pieces of this many floats (4 MiB), each cleared on the backend as it is
        // read: a whole host copy would add 4 bytes per element to the 12 that collecting takes (f32 on the backend,
        // f64 means), 1.4 GB of a LLaMA-7B layer's statistics through two upstreams.
        private static readonly float[] s_zeros = new float[GramPiece];

        private readonly float[] _hostColumnSquares;
        private readonly float[]? _gramPiece;

        public Accumulator(IBackend backend, int columns, bool hessian)
        {
            Columns = columns;
            Statistics = new InputStatistics(columns, hessian);
            ColumnSquares = backend.Allocate(columns);
            _hostColumnSquares = new float[columns];
            if (hessian)
            {
                long elements = (long)columns * columns;
                Gram = backend.Allocate(elements);
                _gramPiece = new float[(int)Math.Min(GramPiece, elements)];
            }
        }

        public int Columns { get; }
        public InputStatistics Statistics { get; }
        public DeviceBuffer ColumnSquares { get; }
        public DeviceBuffer? Gram { get; }
        public int PendingTokens { get; set; }

        public void Fold(IBackend backend)
        {
            if (PendingTokens == 0)
            {
                return;
            }
            backend.Download(ColumnSquares, _hostColumnSquares);
            if (Gram is DeviceBuffer gram)
            {
                Statistics.AddSequence(_hostColumnSquares, (offset, piece) =>
                {
                    backend.Download(gram, piece, offset);
                    backend.Upload(s_zeros.AsSpan(0, piece.Length), gram, offset);
                }, _gramPiece, PendingTokens);
            }
            else
            {
                Statistics.AddSequence(_hostColumnSquares, [], PendingTokens);
            }
            // Clear the device sums for the next sample.
            Array.Clear(_hostColumnSquares);
            backend.Upload(_hostColumnSquares, ColumnSquares);
            PendingTokens = 0;
        }

        public void Dispose()
        {
            ColumnSquares.Dispose();
            Gram?.Dispose();
        }
    }
}
