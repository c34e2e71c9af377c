using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Copal.Cli.Infrastructure;
using Copal.Model.Chat;
using Copal.Model.ChatTemplates;
using Copal.Model.Generation;
using Copal.Prune.Driver;
using Copal.Tensors;

namespace Copal.Cli.Commands;

/// <summary><c>copal generate</c>: streams text from a prompt (or from BOS) and reports prefill and decode speed.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text (default: start from BOS alone)", DefaultValueFactory = _ => "" };
        var count = new Option<int>("-n", "--max-tokens") { Description = "Tokens to generate at most", DefaultValueFactory = _ => 256 }.AtLeast(0);
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy (default); sampling with > 0, e.g. 0.8", DefaultValueFactory = _ => 0f }
            .Accept(t => t >= 0, "a finite number ≥ 0");
        var topK = new Option<int>("--top-k") { Description = "Sample from the k most likely tokens (0 = all); needs --temperature > 0", DefaultValueFactory = _ => 0 }.AtLeast(0);
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass (1 = off); needs --temperature > 0", DefaultValueFactory = _ => 1f }
            .Accept(v => v > 0 && v <= 1, "a number in (0, 1]");
        var minP = new Option<float>("--min-p") { Description = "Sample from the tokens at least this share as likely as the likeliest (0 = all), after --top-k and --top-p; needs --temperature > 0", DefaultValueFactory = _ => 0f }
            .Accept(v => v >= 0 && v <= 1, "a number in [0, 1]");
        var penalty = new Option<float>("--repetition-penalty") { Description = "Penalty on tokens already seen (1 = off); applies to greedy decoding too", DefaultValueFactory = _ => 1f }
            .Accept(v => v > 0, "a finite number > 0");
        var presence = new Option<float>("--presence-penalty") { Description = "OpenAI's: subtracted from the logit of every token the reply already holds (0 = off); applies to greedy decoding too", DefaultValueFactory = _ => 0f }
            .Accept(float.IsFinite, "a finite number");
        var frequency = new Option<float>("--frequency-penalty") { Description = "OpenAI's: subtracted from a token's logit once per time the reply already holds it (0 = off); applies to greedy decoding too", DefaultValueFactory = _ => 0f }
            .Accept(float.IsFinite, "a finite number");
        var seed = new Option<ulong>("--seed") { Description = "Random seed for sampling; needs --temperature > 0", DefaultValueFactory = _ => 0UL };
        var ctxSize = ContextSizeOption.Create();
        var verbose = new Option<bool>("--verbose", "-v") { Description = "Also report the context size and the bytes of the KV cache and RoPE tables" };
        var chat = new Option<bool>("--chat") { Description = "Take --prompt as a user's message: the model's chat template (chat_template.jinja, else tokenizer_config.json's) renders it with the assistant's turn to follow, and the reply alone is printed" };
        var system = new Option<string?>("--system") { Description = "A system message before the user's (needs --chat)" };
        var templateArguments = new Option<string?>("--chat-template-kwargs") { Description = "Variables for the chat template as a JSON object (needs --chat), e.g. '{\"enable_thinking\": false}' turns Qwen3's thinking off" }
            .Accept(raw => JsonObject(raw) is null ? "a JSON object, e.g. '{\"enable_thinking\": false}'" : null);
        var device = CommonOptions.Device();
        var json = CommonOptions.Json();
        var sparse = SparseOptions.LoadMode();
        var allowNonFinite = CommonOptions.AllowNonFinite();
        var mmap = CommonOptions.Mmap("on");
        var command = new Command("generate", "Generate text, streaming it as it is produced")
        {
            model, prompt, count, temperature, topK, topP, minP, penalty, presence, frequency, seed, ctxSize, verbose, chat, system, templateArguments, device, json, sparse, allowNonFinite, mmap,
        };
        command.SetBody((p, ct) =>
        {
            int n = p.GetValue(count);
            // Greedy decoding takes the most likely token, so a sampling filter would silently do nothing: refuse it,
            // as a contradiction, rather than guess a temperature (docs/cli.md).
            if (p.GetValue(temperature) == 0)
            {
                foreach ((Option option, bool given, string does) in new (Option, bool, string)[]
                {
                    (topP, p.GetValue(topP) < 1, "filters the tokens that sampling draws from"),
                    (topK, p.GetValue(topK) > 0, "filters the tokens that sampling draws from"),
                    (minP, p.GetValue(minP) > 0, "filters the tokens that sampling draws from"),
                    (seed, p.GetResult(seed) is { Implicit: false }, "seeds the sampling's draws"),
                })
                {
                    if (given)
                    {
                        // A temperature typed as 1e-50 is 0 once read: the message says so, not that none was given.
                        string greedy = p.GetResult(temperature) is { Implicit: false } typed && typed.Tokens[^1].Value is string raw
                            && double.TryParse(raw, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double exact) && exact != 0
                            ? $"--temperature {raw} is 0 in single precision (greedy decoding)"
                            : "--temperature is 0 (greedy decoding, the default)";
                        throw new UsageException($"{p.Typed(option)} {p.GetResult(option)!.Tokens[^1].Value} {does}, "
                            + $"but {greedy}; give --temperature > 0 to sample, e.g. --temperature 0.8");
                    }
                }
            }
            var sampling = new SamplingOptions
            {
                Temperature = p.GetValue(temperature),
                TopK = p.GetValue(topK),
                TopP = p.GetValue(topP),
                MinP = p.GetValue(minP),
                RepetitionPenalty = p.GetValue(penalty),
                PresencePenalty = p.GetValue(presence),
                FrequencyPenalty = p.GetValue(frequency),
                Seed = p.GetValue(seed),
            };
            bool asJson = p.GetValue(json);
            bool asChat = p.GetValue(chat);
            string[] chatOnly = [.. new Option[] { system, templateArguments }.Where(o => p.GetResult(o) is not null).Select(p.Typed)];
            if (!asChat && chatOnly.Length > 0)
            {
                throw UsageException.ApplyOnly(chatOnly, "with --chat");
            }
            if (asChat && p.GetResult(prompt) is null or { Implicit: true })
            {
                // --chat takes --prompt as the user's message: without one, the model would answer an empty turn.
                throw new UsageException($"{p.Typed(chat)} takes --prompt as the user's message; give one, e.g. --chat -p \"Tell me a story\"");
            }
            string modelDir = Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model));
            // The chat prompt is made from the model folder's files alone, before the weights are loaded.
            ChatPrompt? chatPrompt = asChat ? ChatPromptFor(modelDir, p.GetValue(prompt)!, p.GetValue(system), JsonObject(p.GetValue(templateArguments))) : null;
            // Against config.json alone, before the weights are loaded.
            ContextSizeOption.CheckAgainstModel(p.GetValue(ctxSize), p.Typed(ctxSize), modelDir);
            GenerationConfigCheck.BeforeLoad(modelDir);
            using ModelSession session = ModelSession.Open(modelDir, p.GetValue(device)!, quiet: asJson,
                SparseOptions.ParseLoadMode(p.GetValue(sparse)!), p.GetValue(allowNonFinite), CommonOptions.ParseMmap(p.GetValue(mmap)!), ct);
            int[] promptIds = chatPrompt is not null
                ? session.Encode(chatPrompt.Text, addSpecialTokens: chatPrompt.AddSpecialTokens, "the prompt")
                : session.Encode(p.GetValue(prompt)!, addSpecialTokens: true, "the prompt");
            if (promptIds.Length == 0)
            {
                promptIds = session.Tokenizer.BosId is int bos ? [bos]
                    : throw new UsageException("the prompt is empty and the tokenizer has no BOS token to start from; give --prompt");
            }
            // The prompt must fit; -n is an upper bound, so generation stops (ContextFull) where the context ends.
            int context = ContextSizeOption.Resolve(p.GetValue(ctxSize), promptIds.Length, (long)promptIds.Length + n,
                session.Model.Config.MaxPositionEmbeddings, bound => $"the prompt is {promptIds.Length} tokens, longer than {bound}", p.Typed(ctxSize));
            HashSet<int> stops = StopTokens.Of(session.Model, session.Tokenizer);
            var stream = session.Tokenizer.CreateDecoderStream(skipSpecialTokens: true);
            // Whether text is out on stdout's line: a failure ends that line, and writes no empty one before any text.
            bool streamedText = false;
            void Stream(string text)
            {
                Console.Out.Write(text);
                streamedText |= text.Length > 0;
            }
            if (!asJson && !asChat)
            {
                // Echo the prompt, then stream the continuation (a chat prints the reply alone).
                foreach (int id in promptIds)
                {
                    Stream(stream.Push(id));
                }
                Console.Out.Flush();
            }
            else if (!asChat)
            {
                // --json's text is the continuation as the full decode shows it after the prompt (a word's leading space kept).
                stream.Prime(promptIds);
            }
            bool beVerbose = p.GetValue(verbose);
            long peakAnonymous = 0;
            void OnToken(int id)
            {
                if (beVerbose)
                {
                    // While the run's buffers are alive: the process's own memory, without the mapped weights' pages.
                    peakAnonymous = Math.Max(peakAnonymous, MemoryProbe.AnonymousBytes());
                }
                if (!asJson)
                {
                    Stream(stream.Push(id));
                    Console.Out.Flush();
                    // `| head` has read what it wanted: the next step would be work for nobody (the console drops the writes).
                    _ = StandardOutput.StopIfReaderGone();
                }
            }
            // A long prompt's prefill is seconds before the first token: its progress, once it has taken a second. Not
            // where stdout and stderr are one terminal: the line drawn in place would overwrite the echoed prompt.
            using var prefillLine = new LateProgressLine(quiet: asJson || (!Console.IsOutputRedirected && !Console.IsErrorRedirected));
            var generator = new Generator(session.Model)
            {
                ContextSize = context,
                DecodableTokens = session.Tokenizer.VocabSize,
                PrefillProgress = new SyncProgress<int>(done =>
                {
                    prefillLine.Update("copal: prefill (prompt tokens)", done, promptIds.Length);
                    if (done == promptIds.Length)
                    {
                        prefillLine.Done();
                    }
                }),
            };
            GenerationResult result;
            try
            {
                // A cancellation throws OperationCanceledException (exit 130 or 143), with the streamed text already out.
                result = generator.Generate(promptIds, n, sampling, stops, OnToken, ct);
            }
            catch (Exception e) when (streamedText && e is not OperationCanceledException)
            {
                // The streamed text's line is ended, as a finished run ends it, so the error starts a line of its own on
                // a terminal ("...the dogcopal: error: ..." otherwise). A cancellation's notice already broke the line.
                // A chat that fails before its reply (or --json, which streams nothing) has no line to end.
                Console.Out.WriteLine();
                Console.Out.Flush();
                throw;
            }
            // The prefill is the first forward pass, so its time includes compiling the forward pass (TieredCompilation
            // is off: methods are compiled fully optimized on first call), and the first decode steps compile the
            // one-row path and the sampler. Say how much, from the runtime's own count of JIT time within each phase's
            // clock (GenerationResult); `copal bench` measures warm speeds.
            double prefillJit = result.PrefillJitTime.TotalSeconds, decodeJit = result.DecodeJitTime.TotalSeconds;
            if (asJson)
            {
                // The continuation through the primed stream, as it reads after the prompt (" a time", as serve gives it);
                // a decode of the ids alone drops a first word's leading space. A chat's reply stands alone.
                string text = asChat ? session.Tokenizer.Decode(result.GeneratedIds.ToArray())
                    : string.Concat(result.GeneratedIds.Select(stream.Push)) + stream.Flush();
                Out.Json(new
                {
                    prompt_ids = result.PromptIds,
                    ids = result.GeneratedIds,
                    text,
                    stop_reason = result.StopReason,
                    prefill_tokens_per_second = result.PrefillTokensPerSecond,
                    prefill_jit_seconds = prefillJit,
                    decode_tokens_per_second = result.DecodeTokensPerSecond,
                    decode_jit_seconds = decodeJit,
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
                    // The positions the layers hold, from the bytes: sliding-window layers hold fewer than the others.
                    double held = result.KvCacheBytes / (2.0 * c.NumLayers * c.KvDim * sizeof(float));
                    string positions = c.SlidingWindow is int w
                        ? string.Create(CultureInfo.InvariantCulture, $"{held:F0} positions a layer on average; a sliding window of {w} holds at most two windows and a prompt chunk")
                        : string.Create(CultureInfo.InvariantCulture, $"{held:F0} positions");
                    Out.Info($"copal: context {result.ContextSize} positions (model: {c.MaxPositionEmbeddings}); KV cache {result.KvCacheBytes} bytes ({ByteSize.Format(result.KvCacheBytes)}: 2 × {c.NumLayers} layers × {c.KvDim} × 4 B × {positions}); RoPE tables {session.Model.RopeTableBytes} bytes ({ByteSize.Format(session.Model.RopeTableBytes)})");
                    if (peakAnonymous > 0)
                    {
                        Out.Info($"copal: anonymous memory (RssAnon, without mapped weights) at most {ByteSize.Format(peakAnonymous)} while generating");
                    }
                }
                string decodeWords = result.DecodeTokensPerSecond is null
                    ? "not run (no token after the first)"
                    : $"{Rate(result.DecodeTokensPerSecond, "")} (includes {decodeJit:F2} s of JIT compilation)";
                Out.Info($"copal: {Plural.Of(result.GeneratedIds.Count, "token")} ({StopWords(result.StopReason)}); prefill {Plural.Of(result.PromptIds.Count, "token")} {Rate(result.PrefillTokensPerSecond, "not run")} (first call, includes {prefillJit:F2} s of JIT compilation), decode {decodeWords} on {session.Backend.Info.Kind}");
            }
            return CliErrors.Ok;
        });
        return command;
    }

    /// <summary>Why generation stopped, in words for the summary line (--json keeps the enum's name).</summary>
    private static string StopWords(StopReason reason) => reason switch
    {
        StopReason.EndOfSequence => "end of sequence",
        StopReason.MaxTokens => "the -n limit",
        StopReason.ContextFull => "the context is full",
        _ => reason.ToString(),
    };

    /// <summary>
    /// The model's chat template over an optional system message and the user's <paramref name="message"/>, with the
    /// generation prompt; a model without a template is a usage error (the plain "role: text" form would need stop
    /// texts that generate does not watch for).
    /// </summary>
    private static ChatPrompt ChatPromptFor(string modelDir, string message, string? system, IReadOnlyDictionary<string, object?>? arguments)
    {
        if (TemplateChatFormatter.ForModel(modelDir) is not TemplateChatFormatter formatter)
        {
            throw new UsageException($"--chat: model '{modelDir}' has no chat template (no chat_template.jinja, and no chat_template in tokenizer_config.json); give the text as --prompt without --chat");
        }
        List<ChatTurn> turns = system is null ? [] : [new ChatTurn("system", system)];
        turns.Add(new ChatTurn("user", message));
        try
        {
            return formatter.Format(turns, arguments);
        }
        catch (ArgumentException e) when (ChatTemplateArguments.Refused(e))
        {
            throw new UsageException($"--chat-template-kwargs: {ChatTemplateArguments.Reason(e)}");
        }
        catch (ChatTemplateRaisedException e)
        {
            // The template's own refusal of this conversation (serve answers it as a 400): said with the file it is in.
            throw new UsageException($"--chat: the chat template of '{formatter.Template.Source}' refused this conversation: {e.TemplateMessage}");
        }
    }

    /// <summary>--chat-template-kwargs as the template's variables (a name given twice keeps its last value); null when not a JSON object.</summary>
    private static Dictionary<string, object?>? JsonObject(string? json)
    {
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(json ?? "").RootElement;
        }
        catch (JsonException)
        {
            return null;
        }
        return root.ValueKind == JsonValueKind.Object ? ChatTemplateArguments.FromJson(root) : null;
    }

    // A speed for the summary line, or what stands for one that does not exist.
    private static string Rate(double? tokensPerSecond, string absent) =>
        tokensPerSecond is double v ? string.Create(CultureInfo.InvariantCulture, $"at {v:F1} tok/s") : absent;
}
