using System.CommandLine;
using System.Net;
using Copal.Cli.Infrastructure;
using Copal.Cli.Serving;
using Copal.Model.Chat;
using Copal.Model.Chat.ToolCalls;
using Copal.Model.ChatTemplates;
using Copal.Model.Serving;
using Copal.Tensors;

namespace Copal.Cli.Commands;

/// <summary>
/// <c>copal serve</c>: an OpenAI-compatible HTTP server over one model, decoding up to --parallel requests together
/// (docs/serving.md). Runs until Ctrl-C or SIGTERM.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var host = new Option<string>("--host") { Description = "Address to listen on: an IP address or localhost (0.0.0.0 for every interface)", DefaultValueFactory = _ => "127.0.0.1" }
            .Accept(h => h == "localhost" || IPAddress.TryParse(h, out _) ? null : "an IP address or localhost");
        var port = new Option<int>("--port") { Description = "TCP port (0: any free port; the address is printed)", DefaultValueFactory = _ => 8080 }
            .Accept(p => p is >= 0 and <= 65535, "a port in 0..65535");
        var parallel = new Option<int>("--parallel", "-np") { Description = "Requests decoded together (slots); each step is one pass over the weights for all of them", DefaultValueFactory = _ => 4 }.AtLeast(1);
        var ctxSize = ContextSizeOption.Create();
        ctxSize.Description = "Most positions one request may hold (prompt + generated); each slot's KV cache grows up to this (default: the model's context)";
        var device = CommonOptions.Device();
        var sparse = SparseOptions.LoadMode();
        var allowNonFinite = CommonOptions.AllowNonFinite();
        var mmap = CommonOptions.Mmap("auto");
        var reasoningParser = new Option<string>("--reasoning-parser")
        {
            Description = "Answer a chat reply's <think>…</think> block apart, in reasoning_content (Qwen3, QwQ, DeepSeek-R1): "
                + "think, or vLLM's names qwen3 and deepseek_r1 for the same; none leaves the reply as the model wrote it",
            DefaultValueFactory = _ => "none",
        }.OneOf("none", "think", "qwen3", "deepseek_r1");
        var toolCallParser = new Option<string>("--tool-call-parser")
        {
            Description = "How the model writes tool calls, for chat requests that offer tools: auto reads it from the chat template "
                + "(hermes for <tool_call> blocks of JSON: Qwen2.5, Qwen3, Granite 4; qwen3_coder for <tool_call> blocks of "
                + "<function=…> and <parameter=…>: Qwen3-Coder; llama3_json for Llama 3.1's JSON calls); "
                + "hermes, qwen3_coder or llama3_json names it; none refuses requests with tools",
            DefaultValueFactory = _ => "auto",
        }.OneOf("auto", "none", "hermes", "qwen3_coder", "llama3_json");
        var prefixCache = new Option<string>("--prefix-cache")
        {
            Description = "on: a finished request's slot keeps its KV cache, and a prompt that begins as an earlier one (a chat's next turn, "
                + "a shared system prompt) runs only what follows that prompt's whole 128-token prefill chunks; the reply is the same to the bit. "
                + "Idle slots then hold the caches of such chunks. off: a slot's cache is given back when its request ends, and every prompt runs whole",
            DefaultValueFactory = _ => "on",
        }.OneOf("on", "off");
        var command = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, /v1/models; /health, /metrics, /tokenize, /detokenize)")
        {
            model, host, port, parallel, ctxSize, device, sparse, allowNonFinite, mmap, reasoningParser, toolCallParser, prefixCache,
        };
        command.SetBody((p, ct) =>
        {
            string modelDir = Inputs.ModelFolder(p.GetValue(model)!, p.Typed(model));
            // Checked against config.json before the weights load: a usage error should not wait for gigabytes.
            ContextSizeOption.CheckAgainstModel(p.GetValue(ctxSize), p.Typed(ctxSize), modelDir);
            GenerationConfigCheck.BeforeLoad(modelDir);
            // The chat template too: a construct Copal does not render is named before the weights load.
            IChatFormatter formatter = TemplateChatFormatter.ForModel(modelDir);
            using ModelSession session = ModelSession.Open(modelDir, p.GetValue(device)!, quiet: false,
                SparseOptions.ParseLoadMode(p.GetValue(sparse)!), p.GetValue(allowNonFinite), CommonOptions.ParseMmap(p.GetValue(mmap)!), ct);
            var options = new EngineOptions { Parallel = p.GetValue(parallel), ContextSize = p.GetValue(ctxSize), PrefixCache = p.GetValue(prefixCache) == "on" };
            using var engine = new InferenceEngine(session.Model, session.Tokenizer, options);
            ToolCallReading toolCalls = ToolCalls(p.GetValue(toolCallParser)!, p.Typed(toolCallParser), formatter);
            if (toolCalls.Format != ToolCallFormat.None)
            {
                Out.Info($"copal: tool calls read as {ToolCallFormats.Name(toolCalls.Format)} ({toolCalls.Reason})");
            }
            OpenAiServer server;
            try
            {
                server = OpenAiServer.StartAsync(engine, p.GetValue(host)!, p.GetValue(port), formatter,
                    splitReasoning: p.GetValue(reasoningParser) != "none", toolCalls: toolCalls, cancellationToken: ct).GetAwaiter().GetResult();
            }
            catch (IOException e)
            {
                // Kestrel's bind failure (an address in use, an address not on this machine), said for the option.
                throw new IOException($"{p.Typed(port)} {p.GetValue(port)}: cannot listen on {p.GetValue(host)}:{p.GetValue(port)}: {e.Message.TrimEnd('.')}", e);
            }
            try
            {
                Out.Info($"copal: serving '{engine.ModelId}' on {server.Address} ({options.Parallel} parallel, context {engine.ContextSize} positions per request); Ctrl-C stops");
                try
                {
                    server.WaitAsync(ct).GetAwaiter().GetResult();
                }
                catch (OperationCanceledException)
                {
                }
            }
            finally
            {
                server.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            EngineStatistics stats = engine.Statistics;
            string cached = options.PrefixCache && stats.CachedPromptTokens > 0
                ? $"; {stats.CachedPromptTokens} of {stats.PromptTokens + stats.SharedPromptTokens + stats.CachedPromptTokens} prompt tokens came from the prefix cache"
                : "";
            // Counted as generations: a request refused with its 4xx, or a tokenizer endpoint's, started none.
            Out.Info($"copal: server stopped after {Plural.Of(server.Generations, "completion request")}{cached}");
            return Cancellation.ExitCode;
        });
        return command;
    }

    /// <summary>
    /// How the server reads tool calls: --tool-call-parser's format, or auto's, read from the model's chat template
    /// (none, with the reason, when it shows no format copal reads).
    /// </summary>
    private static ToolCallReading ToolCalls(string parser, string typed, IChatFormatter formatter)
    {
        ChatTemplate? template = (formatter as TemplateChatFormatter)?.Template;
        if (parser == "none")
        {
            return new ToolCallReading(ToolCallFormat.None, $"the server was started with {typed} none");
        }
        if (parser != "auto")
        {
            return template is null
                ? new ToolCallReading(ToolCallFormat.None, "the model has no chat template, so nothing shows it the tools or how to call them")
                : new ToolCallReading(ToolCallFormats.ByName[parser], $"{typed} {parser}");
        }
        (ToolCallFormat format, string reason) = ToolCallFormats.Detect(template);
        return new ToolCallReading(format, reason);
    }
}
