using Copal.Tensors.Safetensors;
using System.Diagnostics;
using System.Text.Json;
using Copal.Cli.Infrastructure;
using Copal.Model.Inference;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Kernels;
using Copal.Tensors.Sparse;

namespace Copal.Cli.Commands;

/// <summary>The numbers <c>copal bench --model</c> reports; rates are medians over the repeats.</summary>
internal sealed record ModelBenchResult(
    string Model, string Device, int Threads, int Prefill, int Decode, int Repeat,
    long WeightBytesPerToken, long LinearParams, long LmHeadParams,
    double BandwidthGBs, double GemmGflops, string GemmShape,
    double PrefillTokensPerSecond, double PerplexityTokensPerSecond, double DecodeTokensPerSecond,
    double DecodeLimitTokensPerSecond, double PrefillLimitTokensPerSecond, double PerplexityLimitTokensPerSecond,
    IReadOnlyList<ProfileRow> DecodeProfile)
{
    public double DecodeRatio => DecodeTokensPerSecond / DecodeLimitTokensPerSecond;
    public double PrefillRatio => PrefillTokensPerSecond / PrefillLimitTokensPerSecond;
    public double PerplexityRatio => PerplexityTokensPerSecond / PerplexityLimitTokensPerSecond;

    /// <summary>
    /// Where decode reads the weights from: on the CPU "memory" (a copy read at load) or "mapped" (the files'
    /// mapping), see --mmap; "device" on a GPU or ILGPU's CPU accelerator (uploaded to its memory).
    /// </summary>
    public string Weights { get; init; } = "mapped";

    /// <summary>
    /// Whose streaming read <see cref="ModelBenchResult.BandwidthGBs"/> is: "host" (the CPU's, by its SIMD probe) or
    /// "device" (a read kernel on the device, timed on it), where decode reads the weights from.
    /// </summary>
    public string BandwidthSource { get; init; } = "host";

    /// <summary>The device memory's specified rate (GB/s) where the driver reports it (CUDA); else null.</summary>
    public double? NominalBandwidthGBs { get; init; }

    /// <summary>Decode tokens/s over (<see cref="NominalBandwidthGBs"/> ÷ weight bytes per token); null where there is no nominal rate.</summary>
    public double? DecodeRatioNominal { get; init; }

    /// <summary>Streaming rate of a mapping of the checkpoint (the pages decode reads with --mmap on); NaN (null in JSON) when not measured.</summary>
    public double MappedBandwidthGBs { get; init; }

    /// <summary>Decode tokens/s over (mapped-checkpoint bandwidth ÷ weight bytes per token); NaN (null in JSON) when not measured.</summary>
    public double DecodeRatioMapped { get; init; }

    /// <summary>Why a value is missing, keyed by its JSON name; null when everything was measured.</summary>
    public IReadOnlyDictionary<string, string>? NotMeasured { get; init; }

    /// <summary>Decoder linears held compressed (their compressed bytes count in the weight bytes per token).</summary>
    public int SparseLinears { get; init; }

    /// <summary>Positions the run's KV cache holds: --prefill + --decode.</summary>
    public int ContextPositions { get; init; }

    /// <summary>Bytes of the run's KV cache (f32 keys and values of every layer for <see cref="ContextPositions"/>).</summary>
    public long KvCacheBytes { get; init; }

    /// <summary>How the decode profile was timed: "device" (queue markers, issue time apart) or "wall" (each op synchronized).</summary>
    public string ProfileClock { get; init; } = "wall";

    /// <summary>Tokens decoded in the profiled round.</summary>
    public int ProfileTokens { get; init; }

    /// <summary>
    /// Device clock only: the ops' device time per token over the decode rounds' time per token, that is how busy
    /// the device kept in a pipelined decode. Far below 1 with issue time near the token time: decode waits on the
    /// host issuing launches, not on the kernels. Null with the wall clock.
    /// </summary>
    public double? DeviceBusyShare { get; init; }

    /// <summary>Device clock only: the host's time issuing a token's ops (ms); null with the wall clock.</summary>
    public double? IssueMillisecondsPerToken { get; init; }

    /// <summary>Device clock only: timed calls whose issuing outlasted the hold, so their device time includes some issue time.</summary>
    public long ProfileUncoveredCalls { get; init; }

    /// <summary>Why the profile is not what the device would give (its clock failed, and the wall clock stood in); null when it is.</summary>
    public string? ProfileNote { get; init; }
}

/// <summary>One op category's share of a profiled decode step.</summary>
/// <param name="Op">The category: "matmul q_proj", "lm_head", "attention", "rmsnorm" and so on.</param>
/// <param name="MillisecondsPerToken">Device time with the device clock, else synchronized wall time.</param>
/// <param name="IssueMillisecondsPerToken">With the device clock: the host's time issuing the op's launches; else null.</param>
/// <param name="Share">Its share of the profiled ops' time.</param>
/// <param name="CallsPerToken">Its calls per decoded token.</param>
/// <param name="GBPerSecond">Weight bytes the op streams ÷ its time (matmuls); else null.</param>
internal sealed record ProfileRow(string Op, double MillisecondsPerToken, double Share, long CallsPerToken,
    double? IssueMillisecondsPerToken = null, double? GBPerSecond = null);

/// <summary>
/// Whole-model throughput against the machine's own ceilings measured in the same run: decode against streaming
/// bandwidth ÷ weight bytes per token, prefill and perplexity against the GEMM rate on one of the model's own
/// weights ÷ 2·params FLOP per token.
/// </summary>
internal static class BenchModel
{
    public static ModelBenchResult Run(string directory, string device, int prefill, int decode, int repeat, bool quiet, SparseLoadMode sparse = SparseLoadMode.Auto, int? ctxSize = null,
        WeightResidence residence = WeightResidence.Auto, string ctxSizeTyped = "--ctx-size", CancellationToken cancellationToken = default) =>
        Run(directory, CommonOptions.CreateBackend(device), prefill, decode, repeat, quiet, sparse, ctxSize, residence, ctxSizeTyped, cancellationToken);

    /// <summary>The bench on <paramref name="raw"/>, which it takes over (tests pass a backend of their own).</summary>
    internal static ModelBenchResult Run(string directory, IBackend raw, int prefill, int decode, int repeat, bool quiet, SparseLoadMode sparse = SparseLoadMode.Auto, int? ctxSize = null,
        WeightResidence residence = WeightResidence.Auto, string ctxSizeTyped = "--ctx-size", CancellationToken cancellationToken = default)
    {
        // A tied head is the embedding tensor; either way the wrapper recognises it by the head's tensor name.
        string headName = File.Exists(Path.Combine(directory, "config.json")) && Copal.Model.Config.LlamaConfig.Load(directory).TieWordEmbeddings
            ? "model.embed_tokens.weight" : "lm_head.weight";
        using var backend = new BenchTimingBackend(raw, headName);
        // A device's own read rate is measured before the weights take its memory; on the CPU it is measured below.
        IDeviceMemoryProbe? deviceProbe = (raw is CpuFallbackBackend fallback ? fallback.Primary : raw) as IDeviceMemoryProbe;
        double deviceBandwidth = deviceProbe is null ? double.NaN : deviceProbe.MeasureReadBytesPerSecond(DeviceProbeBytes(raw.Info), 5, cancellationToken) / 1e9;
        using LlamaModel model = LlamaModel.Load(directory, backend, sparse, residence: residence, cancellationToken: cancellationToken);
        var c = model.Config;
        long positions = (long)prefill + decode;
        ContextSizeOption.Resolve(ctxSize, positions, positions, c.MaxPositionEmbeddings,
            bound => $"--prefill {prefill} + --decode {decode} = {positions} positions exceed {bound}", ctxSizeTyped);
        // What the run allocates beside the weights, refused with the figure rather than failing inside an allocation.
        long stateBytes = RunState.EstimateBytes(c, prefill, (int)positions, allRowLogits: true) + LlamaModel.RopeTableBytesFor(c, positions);
        if (stateBytes > raw.Info.MemoryBytes)
        {
            throw new UsageException($"--prefill {prefill} + --decode {decode}: the activations, KV cache and RoPE tables would take {ByteSize.Format(stateBytes)}, "
                + $"more than the {raw.Info.Kind} device's {ByteSize.Format(raw.Info.MemoryBytes)} of memory; give a smaller --prefill");
        }
        long linearParams = 0, weightBytes = 0;
        int sparseLinears = 0;
        foreach (DecoderLayerWeights layer in model.Weights.Layers)
        {
            foreach (LinearId id in Enum.GetValues<LinearId>())
            {
                DeviceWeight w = layer[id];
                linearParams += (long)w.Rows * w.Cols;
                weightBytes += w.StoredBytes;
                sparseLinears += w is CpuSparseWeight or Copal.Tensors.Backends.Ilgpu.IlgpuSparseWeight ? 1 : 0;
            }
        }
        DeviceWeight head = model.Weights.LmHead;
        long headParams = (long)head.Rows * head.Cols;
        weightBytes += headParams * head.DType.SizeOf();

        void Say(string s)
        {
            if (!quiet)
            {
                Out.Info($"copal bench: {s}");
            }
        }

        Say($"{c}; {Quantities.DecimalBytes(weightBytes)} of weights streamed per decoded token{(sparseLinears > 0 ? $" ({Plural.Of(sparseLinears, "linear")} compressed)" : "")}");
        double? nominal = raw.Info.NominalMemoryBytesPerSecond / 1e9;
        double bandwidth;
        double mappedBandwidth;
        string? unmeasured;
        if (deviceProbe is null)
        {
            bandwidth = MemoryBandwidth.MeasureRead(512L << 20, raw.Info.ComputeUnits, 5);
            Say($"streaming read {bandwidth:F1} GB/s");
            (mappedBandwidth, unmeasured) = MappedBandwidth(directory, raw.Info.ComputeUnits);
            Say(unmeasured is null ? $"streaming read of the mapped checkpoint {mappedBandwidth:F1} GB/s" : $"streaming read of the mapped checkpoint not measured: {unmeasured}");
        }
        else
        {
            // Decode reads the weights from the device's memory: the host's rates are not its ceiling.
            bandwidth = deviceBandwidth;
            Say($"device streaming read {bandwidth:F1} GB/s{(nominal is double n ? $" ({n:F0} GB/s nominal)" : "")}");
            mappedBandwidth = double.NaN;
            unmeasured = $"the weights are in the {raw.Info.Kind} device's memory, not mapped";
        }


        var random = new Random(1234);
        int[] tokens = Enumerable.Range(0, prefill + decode).Select(_ => random.Next(c.VocabSize)).ToArray();
        using RunState state = model.CreateState(prefill, prefill + decode, allRowLogits: true);
        Say($"KV cache {state.KvCacheBytes} bytes ({ByteSize.Format(state.KvCacheBytes)}) for {prefill + decode} positions");
        var prefillTimes = new List<double>();
        var pplTimes = new List<double>();
        var decodeTimes = new List<double>();
        for (int r = 0; r < repeat + 1; r++) // the first round warms the JIT and the page cache, and is dropped
        {
            cancellationToken.ThrowIfCancellationRequested();
            // Forward only enqueues on a GPU: each phase ends when its work is done, not when its last launch returns
            // (unsynchronized, a 7B prefill of 512 on an H200 read as 950 TFLOP/s, the launches' time alone).
            long t = Stopwatch.GetTimestamp();
            model.Forward(state, tokens.AsSpan(0, prefill), 0, LogitsMode.Last, cancellationToken: cancellationToken);
            backend.Synchronize();
            double p = Stopwatch.GetElapsedTime(t).TotalSeconds;
            t = Stopwatch.GetTimestamp();
            model.Forward(state, tokens.AsSpan(0, prefill), 0, LogitsMode.All, cancellationToken: cancellationToken);
            backend.Synchronize();
            double a = Stopwatch.GetElapsedTime(t).TotalSeconds;
            t = Stopwatch.GetTimestamp();
            for (int i = 0; i < decode; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                model.Forward(state, tokens.AsSpan(prefill + i, 1), prefill + i, LogitsMode.Last, cancellationToken: cancellationToken);
            }
            backend.Synchronize();
            double d = Stopwatch.GetElapsedTime(t).TotalSeconds;
            if (r > 0)
            {
                prefillTimes.Add(p);
                pplTimes.Add(a);
                decodeTimes.Add(d);
            }
            Say($"round {r}{(r == 0 ? " (warm-up)" : "")}: prefill {prefill / p:F1} tok/s, perplexity-mode {prefill / a:F1} tok/s, decode {decode / d:F2} tok/s");
        }
        // One more decode round, op by op, for the profile: apart from the rates, because a timed op waits for the
        // queue. Timed on the device, each op sits behind a hold of a fraction of a millisecond, so that round is
        // short (a 7B token has about 260 ops).
        int profiled = backend.TimesTheDevice ? Math.Min(decode, 8) : decode;
        string? profileNote = null;
        try
        {
            ProfileRound(profiled);
        }
        catch (Exception e) when (backend.TimesTheDevice && e is not OperationCanceledException and not OutOfMemoryException)
        {
            // The rates above are the results; a device clock the driver refuses must not lose them.
            profileNote = $"the device clock failed ({e.GetType().Name}: {e.Message}), so the profile is synchronized wall time";
            Say(profileNote);
            backend.UseWallClock();
            profiled = decode;
            ProfileRound(profiled);
        }

        void ProfileRound(int tokenCount)
        {
            if (c.SlidingWindow is not null)
            {
                // A sliding-window cache may have dropped the keys the rewind to the prompt's end reads: run it again.
                model.Forward(state, tokens.AsSpan(0, prefill), 0, LogitsMode.None, cancellationToken: cancellationToken);
            }
            backend.Reset();
            backend.Timing = true;
            try
            {
                for (int i = 0; i < tokenCount; i++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    model.Forward(state, tokens.AsSpan(prefill + i, 1), prefill + i, LogitsMode.Last, cancellationToken: cancellationToken);
                }
            }
            finally
            {
                backend.Timing = false;
            }
        }
        // The GEMM ceiling on this model's own MLP weight, prefill-sized, measured once the weights are paged in.
        DeviceWeight gate = model.Weights.Layers[0][LinearId.GateProj];
        double gemm = GemmRate(raw, gate, prefill, repeat + 2);
        Say($"GEMM {prefill}×{gate.Cols}→{gate.Rows} ({gate.DType}) {gemm:F1} GFLOP/s");
        double decodeRate = MedianRate(decode, decodeTimes);
        double totalProfiled = backend.Totals.Values.Sum(v => v.Seconds);
        bool deviceClock = backend.TimesTheDevice;
        var profile = backend.Totals
            .OrderByDescending(kv => kv.Value.Seconds)
            .Select(kv => new ProfileRow(kv.Key, kv.Value.Seconds * 1e3 / profiled, kv.Value.Seconds / totalProfiled, kv.Value.Calls / profiled,
                deviceClock ? kv.Value.IssueSeconds * 1e3 / profiled : null,
                kv.Value.Bytes > 0 && kv.Value.Seconds > 0 ? kv.Value.Bytes / kv.Value.Seconds / 1e9 : null))
            .ToList();
        (double? Share, string? Why) busy = deviceClock ? BusyShare(totalProfiled * 1e3 / profiled, 1e3 / decodeRate) : (null, null);
        var notMeasured = new Dictionary<string, string>();
        if (unmeasured is not null)
        {
            notMeasured[JsonNamingPolicy.SnakeCaseLower.ConvertName(nameof(ModelBenchResult.MappedBandwidthGBs))] = unmeasured;
            notMeasured[JsonNamingPolicy.SnakeCaseLower.ConvertName(nameof(ModelBenchResult.DecodeRatioMapped))] = $"needs the mapped checkpoint's bandwidth, not measured: {unmeasured}";
        }
        if (busy.Why is not null)
        {
            notMeasured[JsonNamingPolicy.SnakeCaseLower.ConvertName(nameof(ModelBenchResult.DeviceBusyShare))] = busy.Why;
        }
        double flopsPrefillToken = 2.0 * (linearParams + (double)headParams / prefill);
        double flopsPplToken = 2.0 * (linearParams + headParams);
        return new ModelBenchResult(
            directory, raw.Info.Kind, raw.Info.ComputeUnits, prefill, decode, repeat,
            weightBytes, linearParams, headParams, bandwidth, gemm, $"{prefill}x{gate.Cols}x{gate.Rows} {gate.DType}",
            MedianRate(prefill, prefillTimes), MedianRate(prefill, pplTimes), decodeRate,
            bandwidth * 1e9 / weightBytes, gemm * 1e9 / flopsPrefillToken, gemm * 1e9 / flopsPplToken,
            profile)
        {
            MappedBandwidthGBs = mappedBandwidth,
            Weights = deviceProbe is not null ? "device" : model.WeightResidence == WeightResidence.Memory ? "memory" : "mapped",
            BandwidthSource = deviceProbe is null ? "host" : "device",
            NominalBandwidthGBs = nominal,
            DecodeRatioNominal = nominal is double rate ? decodeRate / (rate * 1e9 / weightBytes) : null,
            SparseLinears = sparseLinears,
            ContextPositions = prefill + decode,
            KvCacheBytes = state.KvCacheBytes,
            ProfileClock = deviceClock ? "device" : "wall",
            ProfileTokens = profiled,
            DeviceBusyShare = busy.Share,
            IssueMillisecondsPerToken = deviceClock ? backend.Totals.Values.Sum(v => v.IssueSeconds) * 1e3 / profiled : null,
            ProfileUncoveredCalls = backend.Totals.Values.Sum(v => v.Uncovered),
            ProfileNote = profileNote,
            DecodeRatioMapped = decodeRate / (mappedBandwidth * 1e9 / weightBytes),
            NotMeasured = notMeasured.Count == 0 ? null : notMeasured,
        };
    }

    /// <summary>
    /// How busy the device kept in a pipelined decode token: the profiled ops' device time over the token's time. A
    /// device cannot be busy for more than all of a token, so a sum above it says the ops ran slower timed one at a
    /// time than in the timed rounds (ILGPU's CPU accelerator runs each launch on the cores that issue it and read the
    /// markers, so there the sum takes in the timing's own cost): the share is then not known, and the reason says so.
    /// </summary>
    internal static (double? Share, string? NotMeasured) BusyShare(double deviceMillisecondsPerToken, double tokenMilliseconds) =>
        deviceMillisecondsPerToken <= tokenMilliseconds
            ? (deviceMillisecondsPerToken / tokenMilliseconds, null)
            : (null, $"the ops timed one at a time took {deviceMillisecondsPerToken:F3} ms a token, more than a timed decode token's {tokenMilliseconds:F3} ms: timing them slowed them, so how busy the device keeps is not known");

    /// <summary>
    /// Bytes for the device's read probe: 1 GiB, far above any L2 cache, and at most an eighth of the device's memory.
    /// ILGPU's CPU accelerator reads 256 MiB: it is slow, and its memory is the host's.
    /// </summary>
    private static long DeviceProbeBytes(BackendInfo info) =>
        info.Kind == "ilgpu-cpu" ? 256L << 20 : Math.Clamp(info.MemoryBytes / 8, 16, 1L << 30);

    /// <summary>
    /// The streaming rate of the checkpoint's own memory mapping (its largest file's data section): the pages a CPU
    /// decode really reads, which can stream slower than the anonymous buffer of the plain probe.
    /// </summary>
    /// <remarks>Below 1 MiB a read takes too little time to be timed: NaN, with the reason.</remarks>
    private static unsafe (double GBs, string? NotMeasured) MappedBandwidth(string directory, int threads)
    {
        using SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.Open(directory);
        SafetensorsFile largest = checkpoint.Files.MaxBy(f => f.Tensors.Sum(t => t.ByteLength))!;
        var begin = (byte*)largest.Tensors.Min(t => (nuint)t.Data);
        long bytes = largest.Tensors.Sum(t => t.ByteLength);
        return bytes < (1L << 20)
            ? (double.NaN, $"the checkpoint's weights ({bytes / 1048576.0:F2} MiB) are too small to time a streaming read (1 MiB at least)")
            : (MemoryBandwidth.MeasureRead(begin, bytes, threads, 3), null);
    }

    private static double GemmRate(IBackend backend, DeviceWeight weight, int rows, int repeat)
    {
        using DeviceBuffer x = backend.Allocate((long)rows * weight.Cols);
        using DeviceBuffer y = backend.Allocate((long)rows * weight.Rows);
        var random = new Random(7);
        backend.Upload(Enumerable.Range(0, rows * weight.Cols).Select(_ => (float)random.NextDouble() - 0.5f).ToArray(), x);
        // A small model's GEMM takes microseconds, where a lone call times the dispatch (8.7 and 81.9 GFLOP/s in two
        // runs on stories260K, under the prefill it should bound): each sample runs enough calls to last 10 ms.
        // The fastest of three warm calls sizes the samples: one slow call (a page fault, a thread waking) would leave
        // a sample of one call again.
        double once = double.MaxValue;
        for (int w = 0; w < 3; w++)
        {
            long start = Stopwatch.GetTimestamp();
            backend.MatMul(x, weight, y, rows);
            backend.Synchronize();
            once = Math.Min(once, Math.Max(Stopwatch.GetElapsedTime(start).TotalSeconds, 1e-7));
        }
        int calls = (int)Math.Clamp(Math.Ceiling(0.01 / once), 1, 100_000);
        var times = new List<double>();
        for (int r = 0; r < repeat; r++)
        {
            long t = Stopwatch.GetTimestamp();
            for (int c = 0; c < calls; c++)
            {
                backend.MatMul(x, weight, y, rows);
            }
            backend.Synchronize();
            times.Add(Stopwatch.GetElapsedTime(t).TotalSeconds / calls);
        }
        return 2.0 * rows * weight.Rows * weight.Cols / Median(times) / 1e9;
    }

    /// <summary>
    /// The median of the rounds' rates (<paramref name="tokens"/> over each of <paramref name="seconds"/>), the figures
    /// the round lines print. Tokens over the median time differs with an even count: it divides by the mean of the
    /// middle two times, the harmonic mean of their rates.
    /// </summary>
    internal static double MedianRate(int tokens, IReadOnlyList<double> seconds) => Median([.. seconds.Select(s => tokens / s)]);

    internal static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
