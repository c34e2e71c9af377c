using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Tensors;

namespace Copal.Cli.Commands;

/// <summary>
/// <c>copal bench</c>: whole-model prefill, perplexity-mode and decode throughput against this machine's own
/// ceilings measured in the same run (a bandwidth probe and a GEMM on the model's weights), with a per-op decode
/// profile; <c>copal bench kernels</c>: the linear-layer kernels on real shapes beside OpenBLAS. Numbers are
/// medians over --repeat rounds after one warm-up round.
/// </summary>
internal static class BenchCommand
{
    /// <summary>
    /// Most measured rounds: far past any useful median, and short of int's largest, where a warm-up round more
    /// (repeat + 1) overflowed and the run failed on a negative position.
    /// </summary>
    internal const int MaxRepeat = 1_000_000;

    internal const string RepeatExpected = "an integer in 1..1000000";

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var prefill = new Option<int>("--prefill") { Description = "Prompt tokens per prefill round", DefaultValueFactory = _ => 128 }.AtLeast(1);
        var decode = new Option<int>("--decode") { Description = "Tokens decoded per round (after the prompt)", DefaultValueFactory = _ => 32 }.AtLeast(1);
        var repeat = new Option<int>("--repeat") { Description = "Measured rounds (the median is reported)", DefaultValueFactory = _ => 3 }.Accept(v => v is >= 1 and <= MaxRepeat, RepeatExpected);
        var ctxSize = ContextSizeOption.Create();
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var sparse = SparseOptions.LoadMode();
        var mmap = CommonOptions.Mmap("auto");
        var command = new Command("bench", "Measure prefill/decode tokens/s against the machine's bandwidth and GEMM ceilings")
        {
            model, prefill, decode, repeat, ctxSize, device, sparse, json, mmap, CreateKernels(), BenchServe.Create(),
        };
        command.SetBody((p, ct) =>
        {
            int n = p.GetValue(prefill), m = p.GetValue(decode), r = p.GetValue(repeat);
            bool asJson = p.GetValue(json);
            string modelDir = Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model));
            // Against config.json alone, before the bench measures anything or loads the weights.
            ContextSizeOption.CheckAgainstModel(p.GetValue(ctxSize), p.Typed(ctxSize), modelDir);
            ModelBenchResult result = BenchModel.Run(modelDir, p.GetValue(device)!, n, m, r, quiet: asJson,
                SparseOptions.ParseLoadMode(p.GetValue(sparse)!), p.GetValue(ctxSize), CommonOptions.ParseMmap(p.GetValue(mmap)!), p.Typed(ctxSize), ct);
            if (asJson)
            {
                Out.Json(result);
                return CliErrors.Ok;
            }
            bool onDevice = result.BandwidthSource == "device";
            string nominal = result.NominalBandwidthGBs is double rate ? $" ({rate:F0} GB/s nominal)" : "";
            Out.Line($"device {result.Device} ({result.Threads} {(result.Device == "cpu" ? "threads" : "compute units")}); {(onDevice ? "device " : "")}streaming read {result.BandwidthGBs:F1} GB/s{nominal}; GEMM {result.GemmShape}: {result.GemmGflops:F1} GFLOP/s");
            string residence = result.Weights switch { "memory" => "read into memory (--mmap)", "device" => "in the device's memory", _ => "mapped (--mmap)" };
            Out.Line($"weights streamed per token: {Quantities.DecimalBytes(result.WeightBytesPerToken)} ({Quantities.Count(result.LinearParams)} linear + {Quantities.Count(result.LmHeadParams)} lm_head params{(result.SparseLinears > 0 ? $"; {Plural.Of(result.SparseLinears, "linear")} compressed" : "")}), {residence}");
            Out.Line($"KV cache: {result.KvCacheBytes} bytes ({ByteSize.Format(result.KvCacheBytes)}) for {result.ContextPositions} positions");
            Out.Line($"| phase | tokens/s | ceiling tokens/s | ratio |");
            Out.Line($"|---|---|---|---|");
            Out.Line($"| prefill {n} | {result.PrefillTokensPerSecond:F1} | {result.PrefillLimitTokensPerSecond:F1} (GEMM rate ÷ 2·params) | {result.PrefillRatio:P0} |");
            Out.Line($"| perplexity-mode {n} (all logits) | {result.PerplexityTokensPerSecond:F1} | {result.PerplexityLimitTokensPerSecond:F1} (GEMM rate ÷ 2·params) | {result.PerplexityRatio:P0} |");
            Out.Line($"| decode {m} | {result.DecodeTokensPerSecond:F2} | {result.DecodeLimitTokensPerSecond:F2} ({(onDevice ? "device " : "")}bandwidth ÷ weight bytes) | {result.DecodeRatio:P0} |");
            if (result.NominalBandwidthGBs is double nominalGBs && result.DecodeRatioNominal is double ofNominal)
            {
                Out.Line($"| decode {m}, vs the memory's nominal rate | {result.DecodeTokensPerSecond:F2} | {result.DecodeTokensPerSecond / ofNominal:F2} ({nominalGBs:F0} GB/s ÷ weight bytes) | {ofNominal:P0} |");
            }
            if (!onDevice)
            {
                // With the weights read into memory, the mapping's rate is what --mmap on could reach, not decode's ceiling.
                string mappedRow = result.Weights == "memory" ? $"decode {m}, vs a mapping's bandwidth (--mmap on; this run read the weights in)" : $"decode {m}, vs the mapped checkpoint's bandwidth";
                Out.Line(double.IsFinite(result.DecodeRatioMapped)
                    ? $"| {mappedRow} | {result.DecodeTokensPerSecond:F2} | {result.DecodeTokensPerSecond / result.DecodeRatioMapped:F2} ({result.MappedBandwidthGBs:F1} GB/s ÷ weight bytes) | {result.DecodeRatioMapped:P0} |"
                    : $"| {mappedRow} | {result.DecodeTokensPerSecond:F2} | not measured: {result.NotMeasured?.GetValueOrDefault("mapped_bandwidth_g_bs") ?? "no mapped read"} | — |");
            }
            BenchProfileReport.Write(result);
            return CliErrors.Ok;
        });
        return command;
    }

    private static Command CreateKernels()
    {
        var threads = new Option<int>("--threads") { Description = "Threads (0 = all cores)", DefaultValueFactory = _ => 0 }.AtLeast(0);
        var repeat = new Option<int>("--repeat") { Description = "Timed runs per case (median; GEMV uses at least 10)", DefaultValueFactory = _ => 3 }.Accept(v => v is >= 1 and <= MaxRepeat, RepeatExpected);
        var only = new Option<string>("--only") { Description = "gemv, gemm or all", DefaultValueFactory = _ => "all" }.OneOf("gemv", "gemm", "all");
        var json = CommonOptions.Json();
        var command = new Command("kernels", "GEMV/GEMM GB/s and GFLOP/s on 4096×4096, 11008×4096, 4096×11008 beside OpenBLAS") { threads, repeat, only, json };
        command.SetBody((p, _) =>
        {
            string which = p.GetValue(only)!;
            bool asJson = p.GetValue(json);
            if (!asJson)
            {
                Out.Line($"OpenBLAS: {(BenchOpenBlas.IsAvailable ? "loaded (f32 peer)" : "not found")}");
                Out.Line("| shape out×in | n | dtype | Copal | OpenBLAS f32 | ratio (peer time / ours) | of streaming bandwidth |");
                Out.Line("|---|---|---|---|---|---|---|");
            }
            var (bandwidth, rows) = BenchKernels.Run(p.GetValue(threads), p.GetValue(repeat), which != "gemm", which != "gemv", row =>
            {
                if (!asJson)
                {
                    string peer = row.PeerRate is double pr ? $"{pr:F1} {row.Unit}" : "—";
                    Out.Line($"| {row.Out}×{row.In} | {row.N} | {row.DType} | {row.Rate:F1} {row.Unit} | {peer} | {(row.Ratio is double q ? q.ToString("F2") : "—")} | {(row.OfBandwidth is double b ? b.ToString("P0") : "")} |");
                }
            });
            if (asJson)
            {
                Out.Json(new { bandwidth_gbs = bandwidth, openblas = BenchOpenBlas.IsAvailable, rows });
            }
            else
            {
                Out.Line($"streaming read: {bandwidth:F1} GB/s");
            }
            return CliErrors.Ok;
        });
        return command;
    }
}
