using System.CommandLine;
using Copal.Cli.Infrastructure;
using Copal.Model.Generation;
using Copal.Prune.Driver;

namespace Copal.Cli.Commands;

/// <summary><c>copal generate</c>: streams text from a prompt (or from BOS) and reports prefill and decode speed.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text (default: start from BOS alone)", DefaultValueFactory = _ => "" };
        var count = new Option<int>("-n", "--max-tokens") { Description = "Tokens to generate at most", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy (default)", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "Sample from the k most likely tokens (0 = all)", DefaultValueFactory = _ => 0 };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass (1 = off)", DefaultValueFactory = _ => 1f };
        var penalty = new Option<float>("--repetition-penalty") { Description = "Penalty on tokens already seen (1 = off)", DefaultValueFactory = _ => 1f };
        var seed = new Option<ulong>("--seed") { Description = "Random seed for sampling", DefaultValueFactory = _ => 0UL };
        var ctxSize = ContextSizeOption.Create();
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Also report the context size and the bytes of the KV cache and RoPE tables" };
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var sparse = SparseOptions.LoadMode();
        var command = new Command("generate", "Generate text, streaming it as it is produced")
        {
            model, prompt, count, temperature, topK, topP, penalty, seed, ctxSize, verbose, device, json, sparse,
        };
        command.SetBody((p, ct) =>
        {
            int n = p.GetValue(count);
            if (n < 0)
            {
                throw new UsageException($"-n must be ≥ 0, got {n}");
            }
            var sampling = new SamplingOptions
            {
                Temperature = p.GetValue(temperature),
                TopK = p.GetValue(topK),
                TopP = p.GetValue(topP),
                RepetitionPenalty = p.GetValue(penalty),
                Seed = p.GetValue(seed),
            };
            try
            {
                sampling.Validate();
            }
            catch (ArgumentOutOfRangeException e)
            {
                throw new UsageException(e.Message.Split(Environment.NewLine)[0]);
            }
            bool asJson = p.GetValue(json);
            using ModelSession session = ModelSession.Open(p.GetValue(model)!, p.GetValue(device)!, quiet: asJson, SparseOptions.ParseLoadMode(p.GetValue(sparse)!));
            int[] promptIds = session.Tokenizer.Encode(p.GetValue(prompt)!, addSpecialTokens: true);
            if (promptIds.Length == 0)
            {
                promptIds = session.Tokenizer.BosId is int bos ? [bos]
                    : throw new UsageException("the prompt is empty and the tokenizer has no BOS token to start from; give --prompt");
            }
            // The prompt must fit; -n is an upper bound, so generation stops (ContextFull) where the context ends.
            int context = ContextSizeOption.Resolve(p.GetValue(ctxSize), promptIds.Length, (long)promptIds.Length + n,
                session.Model.Config.MaxPositionEmbeddings, bound => $"the prompt is {promptIds.Length} tokens, longer than {bound}");
            var stops = new HashSet<int>(session.Model.Config.EosTokenIds);
            if (session.Tokenizer.EosId is int eos)
            {
                stops.Add(eos);
            }
            var stream = session.Tokenizer.CreateDecoderStream(skipSpecialTokens: true);
            if (!asJson)
            {
                // Echo the prompt, then stream the continuation.
                foreach (int id in promptIds)
                {
                    Console.Out.Write(stream.Push(id));
                }
                Console.Out.Flush();
            }
            bool beVerbose = p.GetValue(verbose);
            long peakAnonymous = 0;
            GenerationResult result = new Generator(session.Model) { ContextSize = context }.Generate(promptIds, n, sampling, stops, id =>
            {
                if (beVerbose)
                {
                    // While the run's buffers are alive: the process's own memory, without the mapped weights' pages.
                    peakAnonymous = Math.Max(peakAnonymous, MemoryProbe.AnonymousBytes());
                }
                if (!asJson)
                {
                    Console.Out.Write(stream.Push(id));
                    Console.Out.Flush();
                }
            }, ct);
            if (result.StopReason == StopReason.Cancelled)
            {
                ct.ThrowIfCancellationRequested();
            }
            string text = session.Tokenizer.Decode(result.GeneratedIds.ToArray());
            if (asJson)
            {
                Out.Json(new
                {
                    prompt_ids = result.PromptIds,
                    ids = result.GeneratedIds,
                    text,
                    stop_reason = result.StopReason,
                    prefill_tokens_per_second = result.PrefillTokensPerSecond,
                    decode_tokens_per_second = result.DecodeTokensPerSecond,
                    load_seconds = session.LoadTime.TotalSeconds,
                    device = session.Backend.Info.Kind,
                    ctx_size = result.ContextSize,
                    kv_cache_bytes = result.KvCacheBytes,
                    rope_table_bytes = session.Model.RopeTableBytes,
                });
            }
            else
            {
                // Text held back for an incomplete character at the very end.
                Console.Out.Write(stream.Flush());
                Console.Out.WriteLine();
                if (beVerbose)
                {
                    var c = session.Model.Config;
                    Out.Info($"copal: context {result.ContextSize} positions (model: {c.MaxPositionEmbeddings}); KV cache {result.KvCacheBytes} bytes ({ByteSize.Format(result.KvCacheBytes)}: 2 × {c.NumLayers} layers × {result.ContextSize} positions × {c.KvDim} × 4 B); RoPE tables {session.Model.RopeTableBytes} bytes ({ByteSize.Format(session.Model.RopeTableBytes)})");
                    if (peakAnonymous > 0)
                    {
                        Out.Info($"copal: anonymous memory (RssAnon, without mapped weights) at most {ByteSize.Format(peakAnonymous)} while generating");
                    }
                }
                Out.Info($"copal: {result.GeneratedIds.Count} tokens ({result.StopReason}); prefill {result.PromptIds.Count} tokens at {result.PrefillTokensPerSecond:F1} tok/s, decode {result.DecodeTokensPerSecond:F1} tok/s on {session.Backend.Info.Kind}");
            }
            return CliErrors.Ok;
        });
        return command;
    }
}
