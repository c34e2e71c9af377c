using System.CommandLine;
using System.Globalization;

namespace Copal.Cli.Infrastructure;

/// <summary>
/// <c>--ctx-size</c>, as llama.cpp's: the most positions a run may hold. The KV cache and the RoPE tables are sized
/// to the run's work (the prompt plus <c>-n</c>, a window, …); this option only bounds it. Default: what the work
/// needs, capped by the model's max_position_embeddings.
/// </summary>
internal static class ContextSizeOption
{
    /// <summary>The option; a value below 1 is refused while the command line is read, before any file is opened.</summary>
    public static Option<int?> Create() => new Option<int?>("--ctx-size", "-c")
    {
        Description = "Most positions the run may hold (KV cache and RoPE tables are sized to the work, at most this; default: what the work needs, up to the model's context)",
    }.AtLeast(1);

    /// <summary>
    /// Refuses a <paramref name="ctxSize"/> beyond the model's context (exit 2), naming the option as
    /// <paramref name="typed"/> (<c>-c</c> or <c>--ctx-size</c>). Needs only config.json, so commands call it before
    /// loading the weights.
    /// </summary>
    public static void CheckAgainstModel(int? ctxSize, string typed, int modelContext)
    {
        if (ctxSize is int c && c > modelContext)
        {
            throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"{typed} {c} exceeds the model's context of {modelContext} positions (max_position_embeddings)"));
        }
    }

    /// <summary>
    /// <see cref="CheckAgainstModel(int?, string, int)"/> against the config.json of <paramref name="modelDirectory"/>,
    /// read only when a size was given and the file is there (its absence is the loader's error to report).
    /// </summary>
    public static void CheckAgainstModel(int? ctxSize, string typed, string modelDirectory)
    {
        if (ctxSize is not null && File.Exists(Path.Combine(modelDirectory, "config.json")))
        {
            CheckAgainstModel(ctxSize, typed, Copal.Model.Config.LlamaConfig.Load(modelDirectory).MaxPositionEmbeddings);
        }
    }

    /// <summary>
    /// The run's context: <paramref name="ctxSize"/> or else min(<paramref name="wanted"/>, the model's context).
    /// Exit 2 when --ctx-size exceeds the model's context or the <paramref name="needed"/> positions (what the run
    /// cannot do without) do not fit; <paramref name="tooLong"/> words that error given the limit ("-c 64", "the
    /// model's context of 512 tokens (max_position_embeddings)"). <paramref name="typed"/> is the option as typed.
    /// </summary>
    public static int Resolve(int? ctxSize, long needed, long wanted, int modelContext, Func<string, string> tooLong, string typed = "--ctx-size")
    {
        ArgumentNullException.ThrowIfNull(tooLong);
        CheckAgainstModel(ctxSize, typed, modelContext);
        if (ctxSize is int c)
        {
            if (needed > c)
            {
                throw new UsageException(tooLong(string.Create(CultureInfo.InvariantCulture, $"{typed} {c}")));
            }
            return c;
        }
        if (needed > modelContext)
        {
            throw new UsageException(tooLong(string.Create(CultureInfo.InvariantCulture, $"the model's context of {modelContext} tokens (max_position_embeddings)")));
        }
        return (int)Math.Min(modelContext, Math.Max(needed, wanted));
    }
}
