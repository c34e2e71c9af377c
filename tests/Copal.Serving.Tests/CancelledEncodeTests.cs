using Copal.Model.Serving;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>
/// A prompt's text is encoded on its caller's thread before anything is queued, and a long one takes seconds (a few
/// megabytes under a long context). The call's token now reaches the encode, which checks it before each word, so a
/// client that leaves (the server's RequestAborted) stops its tokenization; before, the text was encoded whole and its
/// job queued, to be dropped only when a slot took it.
/// </summary>
public sealed class CancelledEncodeTests
{
    [Fact]
    public async Task A_cancelled_call_stops_in_its_encode_and_queues_nothing()
    {
        using var backend = new CpuBackend();
        using InferenceEngine engine = InferenceEngine.Load(TestData.Stories260K, backend);
        using var cancel = new CancellationTokenSource();
        await cancel.CancelAsync();
        var request = new CompletionRequest { Prompt = "Once upon a time there was a dog." };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (CompletionChunk _ in engine.StreamAsync(request, cancel.Token))
            {
            }
        });
        Assert.Equal(0, engine.Statistics.Started); // nothing queued
        Assert.ThrowsAny<OperationCanceledException>(() => engine.Prepare(request, cancel.Token));
    }
}
