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
    public static Option<int?> Create() => new("--ctx-size", "-c")
    {
        Description = "Most positions the run may hold (KV cache and RoPE tables are sized to the work, at most this; default: what the work needs, up to the model's context)",
    };

    /// <summary>
    /// The run's context: <paramref name="ctxSize"/> or else min(<paramref name="wanted"/>, the model's context).
    /// Exit 2 when --ctx-size is out of range or the <paramref name="needed"/> positions (what the run cannot do
    /// without) do not fit; <paramref name="tooLong"/> words that error given the limit ("--ctx-size 64", "the
    /// model's context of 512 tokens (max_position_embeddings)").
    /// </summary>
    public static int Resolve(int? ctxSize, long needed, long wanted, int modelContext, Func<string, string> tooLong)
    {
        ArgumentNullException.ThrowIfNull(tooLong);
        if (ctxSize is int c)
        {
            if (c < 1)
            {
                throw new UsageException($"--ctx-size must be ≥ 1, got {c}");
            }
            if (c > modelContext)
            {
                throw new UsageException($"--ctx-size {c} exceeds the model's context of {modelContext} positions (max_position_embeddings)");
            }
            if (needed > c)
            {
                throw new UsageException(tooLong(string.Create(CultureInfo.InvariantCulture, $"--ctx-size {c}")));
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
