using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Testing;

/// <summary>
/// The CPU backend, with a record of every embedding lookup: one per forward chunk (a prefill chunk, a decode step or
/// a batched step), so a test counts the work a model did, never how long it took. <see cref="OnEmbedding"/> runs on
/// the calling thread before the lookup, with its row count (a test cancels a token there).
/// </summary>
public sealed class EmbeddingCountingBackend(int threads = 0) : CpuBackend(threads), IBackend
{
    private readonly List<int> _rows = [];

    /// <summary>Runs before each lookup with its rows.</summary>
    public Action<int>? OnEmbedding { get; set; }

    /// <summary>The rows of each lookup so far, in order.</summary>
    public IReadOnlyList<int> Rows
    {
        get
        {
            lock (_rows)
            {
                return [.. _rows];
            }
        }
    }

    public void Reset()
    {
        lock (_rows)
        {
            _rows.Clear();
        }
    }

    // Re-implements the interface's one method; every other IBackend member stays CpuBackend's.
    void IBackend.Embedding(DeviceWeight table, ReadOnlySpan<int> tokens, DeviceBuffer output)
    {
        lock (_rows)
        {
            _rows.Add(tokens.Length);
        }
        OnEmbedding?.Invoke(tokens.Length);
        Embedding(table, tokens, output);
    }
}
