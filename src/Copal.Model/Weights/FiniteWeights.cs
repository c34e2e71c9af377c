using Copal.Tensors;
using Copal.Tensors.Numerics;

namespace Copal.Model.Weights;

/// <summary>
/// Refuses NaN and ±Inf in a checkpoint's floating-point tensors at load. A model with them computes NaN logits, and
/// greedy decoding, sampling and perplexity then print garbage while exiting 0. The scan reads every weight once,
/// vectorized (<see cref="NonFinite"/>) and spread over the cores in chunks.
/// </summary>
internal static class FiniteWeights
{
    private const long ChunkElements = 1L << 22;

    /// <summary>
    /// Throws a <see cref="ModelLoadException"/> naming the first tensor (in <paramref name="tensors"/>' order) that
    /// holds a non-finite value, that value and its first index, marked <see cref="ModelLoadException.NonFiniteWeights"/>.
    /// <paramref name="source"/> names the checkpoint.
    /// </summary>
    public static void Require(IReadOnlyList<TensorView> tensors, string source, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var chunks = new List<(int Tensor, long Start, long Count)>();
        for (int t = 0; t < tensors.Count; t++)
        {
            if (!NonFinite.Applies(tensors[t].DType))
            {
                continue;
            }
            for (long start = 0; start < tensors[t].ElementCount; start += ChunkElements)
            {
                chunks.Add((t, start, Math.Min(ChunkElements, tensors[t].ElementCount - start)));
            }
        }
        long[] first = new long[tensors.Count];
        Array.Fill(first, long.MaxValue);
        var options = new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = cancellationToken };
        Parallel.For(0, chunks.Count, options, k =>
        {
            (int t, long start, long count) = chunks[k];
            long i = NonFinite.IndexOf(tensors[t], start, count);
            if (i >= 0)
            {
                // Several chunks of one tensor may hit: keep the lowest index.
                long seen;
                while (i < (seen = Volatile.Read(ref first[t])) && Interlocked.CompareExchange(ref first[t], i, seen) != seen)
                {
                }
            }
        });
        for (int t = 0; t < tensors.Count; t++)
        {
            if (first[t] != long.MaxValue)
            {
                TensorView v = tensors[t];
                throw new ModelLoadException(
                    $"{source}: tensor '{v.Name}' holds {NonFinite.Describe(v, first[t])} at {NonFinite.Coordinates(first[t], v.Shape)} " +
                    "(its first non-finite value); the weights are damaged or come from a diverged run")
                {
                    NonFiniteWeights = true,
                };
            }
        }
    }
}
