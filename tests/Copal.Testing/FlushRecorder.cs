using System.Collections.Concurrent;
using Copal.Tensors.IO;

namespace Copal.Testing;

/// <summary>The paths under one folder that <see cref="Durable"/> flushed while this lives, in order (other tests run beside it).</summary>
public sealed class FlushRecorder : IDisposable
{
    private readonly string _under;
    private readonly ConcurrentQueue<string> _paths = new();

    public FlushRecorder(string under)
    {
        _under = under;
        Durable.Flushed += Record;
    }

    public IReadOnlyList<string> Paths => [.. _paths];

    private void Record(string path)
    {
        if (path.StartsWith(_under, StringComparison.Ordinal))
        {
            _paths.Enqueue(path);
        }
    }

    public void Dispose() => Durable.Flushed -= Record;
}
