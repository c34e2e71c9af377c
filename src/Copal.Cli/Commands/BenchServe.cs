using System.CommandLine;
using System.Diagnostics;
using Copal.Cli.Infrastructure;
using Copal.Model.Serving;

namespace Copal.Cli.Commands;

/// <summary>
/// <c>copal bench serve</c>: what batched decoding buys. The same greedy request (a fixed synthetic prompt of token
/// ids) runs alone, then as --streams concurrent requests through the engine that <c>copal serve</c> uses (in
/// process, no HTTP): aggregate decode tokens/s of each, their ratio, and the time to first token under load.
/// The two runs are repeated in interleaved rounds (alternating which goes first) and the medians reported, so a
/// machine whose speed drifts between runs moves both sides of each ratio alike. With a prompt of at least one prefill
/// chunk it also times a chat's next turn (the prompt and <see cref="NextTurnTokens"/> more) with the prefix cache and
/// without, in the same interleaved rounds.
/// </summary>
internal static class BenchServe
{
    public sealed record Result(string Device, int Streams, int PromptTokens, int DecodeTokens,
        double SingleDecodeTokensPerSecond, double SingleFirstTokenSeconds,
        double AggregateDecodeTokensPerSecond, double Speedup,
        double FirstTokenMedianSeconds, double FirstTokenMaxSeconds, long KvCacheBytes,
        double SingleTokensPerCpuSecond, double AggregateTokensPerCpuSecond,
        int Rounds, IReadOnlyList<double> RoundSpeedups,
        double? NextTurnFirstTokenSeconds, double? NextTurnFirstTokenWithoutCacheSeconds, IReadOnlyList<double>? NextTurnRoundRatios,
        int? NextTurnCachedTokens);

    /// <summary>New tokens of the next turn after the benchmark's prompt (a short user message).</summary>
    internal const int NextTurnTokens = 32;

    /// <summary>Tokens of the engine's prefill chunk: a shorter prompt has nothing for the prefix cache to keep.</summary>
    private const int PrefillChunk = 128;

    public static Command Create()
    {
        var model = CommonOptions.Model();
        var streams = new Option<int>("--streams") { Description = "Concurrent requests (and slots)", DefaultValueFactory = _ => 8 }.AtLeast(2);
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length of each request", DefaultValueFactory = _ => 32 }.AtLeast(1);
        var decode = new Option<int>("--decode") { Description = "Tokens each request generates", DefaultValueFactory = _ => 32 }.AtLeast(2);
        var repeat = new Option<int>("--repeat") { Description = "Rounds of one-alone and concurrent runs, interleaved; medians are reported", DefaultValueFactory = _ => 3 }.Accept(v => v is >= 1 and <= BenchCommand.MaxRepeat, BenchCommand.RepeatExpected);
        var device = CommonOptions.Device();
        var sparse = SparseOptions.LoadMode();
        var json = CommonOptions.Json();
        var mmap = CommonOptions.Mmap("auto");
        var command = new Command("serve", "Aggregate decode tokens/s of concurrent requests (batched decoding) against one alone, and the time to first token under that load")
        {
            model, streams, promptTokens, decode, repeat, device, sparse, json, mmap,
        };
        command.SetBody((p, ct) =>
        {
            bool asJson = p.GetValue(json);
            int s = p.GetValue(streams), n = p.GetValue(promptTokens), m = p.GetValue(decode);
            using ModelSession session = ModelSession.Open(Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model)), p.GetValue(device)!, quiet: asJson,
                SparseOptions.ParseLoadMode(p.GetValue(sparse)!), residence: CommonOptions.ParseMmap(p.GetValue(mmap)!), cancellationToken: ct);
            int context = session.Model.Config.MaxPositionEmbeddings;
            if (n + m > context)
            {
                throw new UsageException($"{p.Typed(promptTokens)} {n} + {p.Typed(decode)} {m} exceeds the model's context of {context} positions");
            }
            // Every round sends the same prompt: without the prefix cache, each runs its prefill, as a new conversation does.
            using var engine = new InferenceEngine(session.Model, session.Tokenizer, new EngineOptions { Parallel = s, ContextSize = n + m, PrefixCache = false });
            // Fixed ids drawn over the vocabulary: every request has the same work, and random weights need no real text.
            var rng = new Model.Generation.Pcg32(1);
            int[] prompt = [.. Enumerable.Range(0, n).Select(_ => rng.NextInt(session.Model.Config.VocabSize))];
            // A request that meets EOS ends early: rates count the tokens really generated.
            var request = new CompletionRequest { PromptIds = prompt, MaxTokens = m };
            Run(engine, request, 1, ct); // warm-up: compiles the forward pass and the batch path
            Run(engine, request with { MaxTokens = 4 }, s, ct);
            int rounds = p.GetValue(repeat);
            var singles = new List<Timing>();
            var manys = new List<Timing>();
            for (int round = 0; round < rounds; round++)
            {
                // Alternate the order, so a drift within the run weighs on both sides.
                if (round % 2 == 0)
                {
                    singles.Add(Run(engine, request, 1, ct));
                    manys.Add(Run(engine, request, s, ct));
                }
                else
                {
                    manys.Add(Run(engine, request, s, ct));
                    singles.Add(Run(engine, request, 1, ct));
                }
            }
            // A chat's next turn: the prompt again with a few tokens more, timed to its first token.
            bool nextTurn = n >= PrefillChunk && n + NextTurnTokens + 1 <= context;
            int[] turn = [.. prompt, .. Enumerable.Range(0, NextTurnTokens).Select(_ => rng.NextInt(session.Model.Config.VocabSize))];
            var cachedTurns = new List<double>();
            var wholeTurns = new List<double>();
            int turnCached = 0;
            for (int round = 0; nextTurn && round < rounds; round++)
            {
                if (round % 2 == 0)
                {
                    cachedTurns.Add(NextTurn(session, prompt, turn, prefixCache: true, ct, out turnCached));
                    wholeTurns.Add(NextTurn(session, prompt, turn, prefixCache: false, ct, out _));
                }
                else
                {
                    wholeTurns.Add(NextTurn(session, prompt, turn, prefixCache: false, ct, out _));
                    cachedTurns.Add(NextTurn(session, prompt, turn, prefixCache: true, ct, out turnCached));
                }
            }
            double[] turnRatios = [.. cachedTurns.Zip(wholeTurns, (c, w) => c / w)];
            double[] speedups = [.. singles.Zip(manys, (a, b) => b.DecodeRate / a.DecodeRate)];
            double singleRate = Median([.. singles.Select(t => t.DecodeRate)]);
            double[] firstTokens = [.. manys.SelectMany(t => t.FirstToken)];
            double singleCpu = Median([.. singles.Select(t => t.TokensPerCpuSecond)]), manyCpu = Median([.. manys.Select(t => t.TokensPerCpuSecond)]);
            var result = new Result(session.Backend.Info.Kind, s, n, m, singleRate, Median([.. singles.Select(t => t.FirstToken.Max())]),
                Median([.. manys.Select(t => t.DecodeRate)]), Median(speedups), Median(firstTokens), firstTokens.Max(),
                // At their fullest: a slot gives a grown cache back when its request ends.
                Math.Max(engine.Statistics.PeakKvCacheBytes, engine.KvCacheBytes),
                singleCpu, manyCpu, rounds, speedups,
                nextTurn ? Median([.. cachedTurns]) : null, nextTurn ? Median([.. wholeTurns]) : null, nextTurn ? turnRatios : null,
                nextTurn ? turnCached : null);
            if (asJson)
            {
                Out.Json(result);
                return CliErrors.Ok;
            }
            Out.Line($"device {result.Device}; {s} streams, prompt {n} tokens, {m} generated tokens each (greedy); medians of {rounds} interleaved rounds");
            Out.Line("| streams | aggregate decode tokens/s | tokens per CPU-second (prefill included) | time to first token |");
            Out.Line("|---|---|---|---|");
            Out.Line($"| 1 | {singleRate:F2} | {singleCpu:F2} | {Time(result.SingleFirstTokenSeconds)} |");
            Out.Line($"| {s} | {result.AggregateDecodeTokensPerSecond:F2} | {manyCpu:F2} | median {Time(result.FirstTokenMedianSeconds)}, max {Time(result.FirstTokenMaxSeconds)} |");
            Out.Line($"speedup {result.Speedup:F2}× ({s} streams over 1, the median of the rounds' {string.Join(", ", speedups.Select(x => x.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))}); " +
                $"per CPU-second {manyCpu / singleCpu:F2}× (this process's CPU time: less sensitive to other load on the machine)");
            Out.Line(result.NextTurnFirstTokenSeconds is double cached && result.NextTurnFirstTokenWithoutCacheSeconds is double whole
                ? $"next turn (the prompt and {NextTurnTokens} tokens more, {result.NextTurnCachedTokens} of {turn.Length} from the cache), time to first token: {Time(cached)} with the prefix cache, {Time(whole)} without, " +
                    $"{cached / whole:F2}× (rounds {string.Join(", ", turnRatios.Select(x => x.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))})"
                : $"next turn: not timed (a prompt of {n} tokens holds no whole prefill chunk of {PrefillChunk} for the prefix cache, or no room for {NextTurnTokens} more)");
            return CliErrors.Ok;
        });
        return command;
    }

    private sealed record Timing(double[] FirstToken, double DecodeRate, double TokensPerCpuSecond);

    /// <summary>
    /// Seconds to the first token of <paramref name="turn"/> on a new one-slot engine that has just answered
    /// <paramref name="prompt"/>: with the prefix cache, the turn runs what follows the prompt's whole chunks.
    /// <paramref name="cached"/>: the turn's prompt tokens that came from the cache, so a report shows the reuse happened.
    /// </summary>
    private static double NextTurn(ModelSession session, int[] prompt, int[] turn, bool prefixCache, CancellationToken ct, out int cached)
    {
        using var engine = new InferenceEngine(session.Model, session.Tokenizer, new EngineOptions { Parallel = 1, ContextSize = turn.Length + 1, PrefixCache = prefixCache });
        Run(engine, new CompletionRequest { PromptIds = prompt, MaxTokens = 1 }, 1, ct);
        double seconds = Run(engine, new CompletionRequest { PromptIds = turn, MaxTokens = 1 }, 1, ct).FirstToken[0];
        cached = (int)engine.Statistics.CachedPromptTokens;
        return seconds;
    }

    /// <summary>
    /// Starts <paramref name="streams"/> copies of the request together. Each token is timed when the engine chose it
    /// (<see cref="CompletionChunk.ChosenAt"/>), not when its reader woke: a reader may wake once for several steps.
    /// Decode rate: the tokens chosen after the last first token (all prefills done), over the time from then to the
    /// last token; a request admitted early may decode a few steps while the others prefill, and those tokens are
    /// left out with the time they took. Tokens per CPU-second: every generated token over this process's CPU time
    /// for the whole run, prefills included (CPU time cannot be read at the moment a token is chosen).
    /// </summary>
    private static Timing Run(InferenceEngine engine, CompletionRequest request, int streams, CancellationToken ct)
    {
        double cpuStart = CpuSeconds();
        long start = Stopwatch.GetTimestamp();
        var chosen = new List<double>[streams];
        Task[] tasks = [.. Enumerable.Range(0, streams).Select(i => Task.Run(async () =>
        {
            chosen[i] = [];
            await foreach (CompletionChunk c in engine.StreamAsync(request, ct).ConfigureAwait(false))
            {
                if (c.TokenIds.Count == 0)
                {
                    continue;
                }
                chosen[i].Add(Stopwatch.GetElapsedTime(start, c.ChosenAt).TotalSeconds);
            }
        }, ct))];
        Task.WaitAll(tasks, ct);
        double cpuEnd = CpuSeconds();
        if (chosen.Any(t => t.Count == 0))
        {
            // The prompt's first token is an end of sequence: nothing to time (the prompt is fixed, so every round is alike).
            throw new InvalidOperationException("the model ends the benchmark's prompt at once (end of sequence as its first token): no decode to time");
        }
        double[] first = [.. chosen.Select(t => t[0])];
        double decodeStart = first.Max(), decodeEnd = chosen.Max(t => t[^1]);
        double decodeTokens = chosen.Sum(t => t.Count(x => x > decodeStart));
        return new Timing(first, decodeTokens / Math.Max(1e-9, decodeEnd - decodeStart), chosen.Sum(t => t.Count) / Math.Max(1e-9, cpuEnd - cpuStart));
    }

    /// <summary>Seconds as "0.412 s", or "0.35 ms" below a tenth of a second (a small model's first token), never "0.000 s".</summary>
    private static string Time(double seconds) => seconds >= 0.1
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{seconds:F3} s")
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{seconds * 1e3:G3} ms");

    private static double CpuSeconds()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime.TotalSeconds;
    }

    private static double Median(double[] values)
    {
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
