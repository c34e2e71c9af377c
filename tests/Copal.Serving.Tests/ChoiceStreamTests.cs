using System.Runtime.CompilerServices;
using Copal.Cli.Serving;
using Copal.Model.Serving;

namespace Copal.Serving.Tests;

/// <summary>The choices of one request read as one stream: every chunk with its index, and a failure that ends them all.</summary>
public sealed class ChoiceStreamTests
{
    private static async IAsyncEnumerable<CompletionChunk> Chunks(string name, int count, [EnumeratorCancellation] CancellationToken token)
    {
        for (int i = 0; i < count; i++)
        {
            await Task.Yield();
            token.ThrowIfCancellationRequested();
            yield return new CompletionChunk($"{name}{i}", [i]) { FinishReason = i == count - 1 ? FinishReason.Stop : null };
        }
    }

    [Fact]
    public async Task Every_chunk_comes_once_with_its_index_in_its_own_order()
    {
        var read = new List<(int Index, string Text)>();
        ChoiceStream stream = ChoiceStream.Start(3, (i, token) => Chunks(((char)('a' + i)).ToString(), 2 + i, token), CancellationToken.None);
        await using (stream)
        {
            while (await stream.MoveNextAsync())
            {
                read.Add((stream.Current.Index, stream.Current.Chunk.Text));
            }
        }
        for (int i = 0; i < 3; i++)
        {
            string name = ((char)('a' + i)).ToString();
            Assert.Equal(Enumerable.Range(0, 2 + i).Select(k => name + k), read.Where(r => r.Index == i).Select(r => r.Text));
        }
        Assert.Equal(2 + 3 + 4, read.Count);
    }

    [Fact]
    public async Task A_failed_choice_ends_the_stream_with_its_error_and_cancels_the_others()
    {
        var cancelled = new TaskCompletionSource();
        async IAsyncEnumerable<CompletionChunk> Waits([EnumeratorCancellation] CancellationToken token)
        {
            yield return new CompletionChunk("waits", [1]);
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            finally
            {
                cancelled.TrySetResult();
            }
        }
        async IAsyncEnumerable<CompletionChunk> Fails([EnumeratorCancellation] CancellationToken token)
        {
            yield return new CompletionChunk("fails", [2]);
            await Task.Yield();
            throw new InvalidOperationException("choice 1 failed");
        }
        ChoiceStream stream = ChoiceStream.Start(2, (i, token) => i == 0 ? Waits(token) : Fails(token), CancellationToken.None);
        var read = new List<int>();
        await using (stream)
        {
            InvalidOperationException e = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
            {
                while (await stream.MoveNextAsync())
                {
                    read.Add(stream.Current.Index);
                }
            });
            Assert.Equal("choice 1 failed", e.Message);
            // A bound for a failure, not a timing: the waiting choice ends only when it is cancelled.
            await cancelled.Task.WaitAsync(TimeSpan.FromMinutes(1));
        }
        Assert.Equal([0, 1], read.Order());
    }
}
