using System.Diagnostics;
using System.Runtime.InteropServices;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Sparse;

namespace Copal.Model.Weights;

/// <summary>
/// Decides, per linear weight, how it reaches the backend: compact checkpoints (safetensors metadata
/// <c>copal.sparse.*</c>) load compact on a backend that implements <see cref="ISparseWeightLoader"/> (CPU, OpenCL,
/// CUDA) and are densified otherwise; dense weights sparse enough to gain are converted at load in
/// <see cref="SparseLoadMode.Auto"/> (one pass over the weight) where the backend's break-even points were measured
/// (<see cref="ISparseWeightLoader.ConvertsDenseWeights"/>: the CPU), and on any sparse backend with Force. Owns the memory of densified weights, so it must outlive the loaded weights.
/// </summary>
public sealed unsafe class SparseWeightSource : IDisposable
{
    /// <summary>Elements sampled before measuring a dense weight in Auto: a dense model skips the full pass.</summary>
    private const int SampleSize = 4096;

    private readonly IReadOnlyDictionary<string, string> _metadata;
    private readonly Action<string>? _log;
    private readonly List<nint> _owned = [];
    private bool _loggedDensify;
    private bool _loggedSlowCompact;
    private bool _loggedDType;

    /// <param name="metadata">The checkpoint's merged safetensors metadata.</param>
    /// <param name="mode">How sparse weights load.</param>
    /// <param name="log">One-line notes for the user.</param>
    /// <param name="path">The CPU sparse GEMV whose break-even points apply; this process's by default (tests pass others).</param>
    public SparseWeightSource(IReadOnlyDictionary<string, string> metadata, SparseLoadMode mode, Action<string>? log = null, SparseGemvPath? path = null)
    {
        _metadata = metadata ?? throw new ArgumentNullException(nameof(metadata));
        Mode = mode;
        _log = log;
        Path = path ?? SparsityAdvisor.CurrentPath;
    }

    /// <summary>How sparse weights load, as given.</summary>
    public SparseLoadMode Mode { get; }

    /// <summary>The CPU sparse GEMV whose break-even points the advisor applies.</summary>
    public SparseGemvPath Path { get; }

    /// <summary>Linears stored compact and loaded compact.</summary>
    public int LoadedCompact { get; private set; }

    /// <summary>Dense linears converted to a sparse format at load.</summary>
    public int Converted { get; private set; }

    /// <summary>Compact linears expanded to dense (backend without sparse kernels, or mode Off).</summary>
    public int Densified { get; private set; }

    /// <summary>Time spent measuring and converting dense weights.</summary>
    public TimeSpan ConversionTime { get; private set; }

    /// <summary>The bytes of densified weights this source holds for the weights that view them (none on a backend that copies them).</summary>
    internal long HeldBytes { get; private set; }

    /// <summary>True when the checkpoint stores <paramref name="name"/> compact.</summary>
    public bool IsCompact(string name) => SparseTensorCodec.IsSparse(name, _metadata);

    /// <summary>
    /// The weight for linear <paramref name="name"/> [rows, cols], or null to load <paramref name="dense"/> as usual.
    /// <paramref name="dense"/> is null when the checkpoint stores the weight compact.
    /// </summary>
    public DeviceWeight? TryLoad(IBackend backend, string name, int rows, int cols, TensorView? dense, Func<string, TensorView?> lookup, string source)
    {
        if (IsCompact(name))
        {
            return LoadCompact(backend, name, rows, cols, lookup, source);
        }
        if (dense is not TensorView view || Mode == SparseLoadMode.Off || backend is not ISparseWeightLoader sparse
            || (Mode == SparseLoadMode.Auto && !sparse.ConvertsDenseWeights) || view.Rank != 2)
        {
            return null;
        }
        if (!SparseMatrix.HoldsValuesOf(view.DType))
        {
            if (Mode == SparseLoadMode.Force && !_loggedDType)
            {
                // Asked for by name: say why nothing converts rather than load dense in silence.
                _loggedDType = true;
                _log?.Invoke($"sparse: {view.DType} weights stay dense (--sparse force): the sparse formats hold F32, BF16 or F16 values");
            }
            return null;
        }
        var clock = Stopwatch.StartNew();
        try
        {
            // Against the least sparsity any format pays at, not the bitmask's alone: F16's bitmask was never measured
            // (an infinite break-even), and comparing with it skipped every F16 weight that 2:4 would have served.
            if (Mode == SparseLoadMode.Auto && SampledSparsity(view) < SparsityAdvisor.LeastSparsityThatPays(view.DType, Path) - 0.15)
            {
                return null;
            }
            SparsityStats stats = SparsityAdvisor.Measure(view);
            SparsityChoice choice = Mode == SparseLoadMode.Force
                ? (stats.Valid24 ? new SparsityChoice(SparseFormat.NM, 2, 4, "forced") : new SparsityChoice(SparseFormat.Bitmask, 0, 0, "forced"))
                : SparsityAdvisor.Choose(stats, view.DType, Path);
            SparseMatrix? matrix = choice.Format switch
            {
                SparseFormat.NM => NMSparseMatrix.FromTensor(view, choice.N, choice.M),
                SparseFormat.Bitmask => BitmaskSparseMatrix.FromTensor(view),
                _ => null,
            };
            if (matrix is null)
            {
                return null;
            }
            Converted++;
            return sparse.LoadSparseWeight(matrix);
        }
        finally
        {
            ConversionTime += clock.Elapsed;
        }
    }

    private DeviceWeight LoadCompact(IBackend backend, string name, int rows, int cols, Func<string, TensorView?> lookup, string source)
    {
        SparseMatrix matrix;
        try
        {
            matrix = SparseTensorCodec.Load(name, lookup, _metadata);
        }
        catch (SparseFormatException e)
        {
            throw new ModelLoadException($"{source}: {e.Message}", e);
        }
        if (matrix.Rows != rows || matrix.Cols != cols)
        {
            matrix.Dispose();
            throw new ModelLoadException($"{source}: sparse tensor '{name}' has shape [{matrix.Rows}, {matrix.Cols}], expected [{rows}, {cols}]");
        }
        if (Mode != SparseLoadMode.Off && backend is ISparseWeightLoader sparse)
        {
            LoadedCompact++;
            if (Mode == SparseLoadMode.Auto && sparse.ConvertsDenseWeights)
            {
                NoteSlowCompact(matrix);
            }
            return sparse.LoadSparseWeight(matrix);
        }
        if (!_loggedDensify)
        {
            _loggedDensify = true;
            _log?.Invoke(Mode == SparseLoadMode.Off
                ? "sparse weights are densified at load (sparse kernels off)"
                : $"backend {backend.Info.Kind} has no sparse kernels: sparse weights are densified at load");
        }
        using (matrix)
        {
            long bytes = (long)rows * cols * matrix.DType.SizeOf();
            byte* data = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
            // A backend that copies the weight into its own memory (a GPU) is done with the dense bytes once it has
            // loaded them: held on, they would be the compact linears' dense size in host memory beside the device's copy.
            bool copied = backend.CopiesWeightsAtLoad;
            try
            {
                matrix.ToDenseRaw(new Span<byte>(data, checked((int)bytes)));
                Densified++;
                // Values checked finite stay marked so dense: the F16 kernels then skip the Inf/NaN handling, as for a dense checkpoint.
                return backend.LoadWeight(new TensorView(name, matrix.DType, [rows, cols], data, bytes) { FiniteVerified = matrix.FiniteVerified });
            }
            finally
            {
                if (copied)
                {
                    NativeMemory.AlignedFree(data);
                }
                else
                {
                    _owned.Add((nint)data);
                    HeldBytes += bytes;
                }
            }
        }
    }

    /// <summary>
    /// Says once when a compact weight's format decodes slower than dense on this CPU's kernels (measured: 2:4 on the
    /// AVX2 path), with the option that trades its memory for speed. Compact weights still load compact: that is
    /// what the checkpoint asked for.
    /// </summary>
    private void NoteSlowCompact(SparseMatrix matrix)
    {
        if (_loggedSlowCompact || matrix.DType == DType.F16)
        {
            // F16's sparse kernels were measured against dense F16 only for 2:4 on AVX-512, where they win
            // (SparsityAdvisor): nothing to claim of the others either way.
            return;
        }
        bool twoFour = matrix is NMSparseMatrix { N: 2, M: 4 };
        double sparsity = 1 - (matrix.StoredValues / ((double)matrix.Rows * matrix.Cols));
        SparsityChoice choice = SparsityAdvisor.Choose(new SparsityStats(sparsity, twoFour, false), matrix.DType, Path);
        if (choice.Format == SparseFormat.Dense)
        {
            _loggedSlowCompact = true;
            string kernels = Path switch { SparseGemvPath.Avx512 => "AVX-512", SparseGemvPath.Avx2 => "AVX2", _ => "scalar" };
            _log?.Invoke($"sparse: compact {matrix.DType} {(twoFour ? "2:4" : matrix.Format.ToString().ToLowerInvariant())} weights decode " +
                $"slower than dense on this CPU's {kernels} sparse kernels (docs/sparse-formats.md); --sparse off loads them dense: faster, in more memory");
        }
    }

    /// <summary>
    /// Fraction of zeros among one element of each of <see cref="SampleSize"/> equal windows: a cheap screen before the
    /// full measurement. The element's place in its window varies from window to window: evenly spaced elements, at a
    /// spacing that is a multiple of the width (4096 rows of any power-of-two width, a 4096-wide square weight), were
    /// all one column and one place of every 2:4 group, and a kept column made a half-zero weight look dense.
    /// </summary>
    private static double SampledSparsity(TensorView view)
    {
        long count = view.ByteLength / view.DType.SizeOf();
        long step = Math.Max(1, count / SampleSize);
        int zeros = 0, seen = 0;
        for (long window = 0; window * step < count; window++)
        {
            // A multiplicative hash of the window's number (Fibonacci hashing's constant): spread, and the same every load.
            long i = (window * step) + (long)((((ulong)window * 0x9E3779B97F4A7C15UL) >> 32) % (ulong)step);
            if (i >= count)
            {
                break; // the last window is short
            }
            seen++;
            // BF16 and F16 alike: a zero is every bit but the sign clear.
            bool zero = view.DType == DType.F32 ? ((float*)view.Data)[i] == 0f : (((ushort*)view.Data)[i] & 0x7FFF) == 0;
            zeros += zero ? 1 : 0;
        }
        return seen == 0 ? 0 : zeros / (double)seen;
    }

    /// <summary>Frees the memory of the densified weights: only once no weight loaded through this source is used.</summary>
    public void Dispose()
    {
        foreach (nint p in _owned)
        {
            NativeMemory.AlignedFree((void*)p);
        }
        _owned.Clear();
    }
}
