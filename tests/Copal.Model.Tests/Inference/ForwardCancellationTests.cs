using Copal.Model.Inference;
using Copal.Tensors.Backends;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// A forward call stops between the layers of its chunk once cancelled, not at the chunk's end: a perplexity window is
/// one chunk of up to 2,048 rows, which took minutes on the ilgpu-cpu device (a 100M model's window of 1,024 ran on for
/// more than 25 minutes after SIGTERM). The layers run are counted by a tap, not timed; the state stays usable.
/// </summary>
public sealed class ForwardCancellationTests
{
    private const int Rows = 64;

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void Cancelling_during_a_chunk_stops_it_before_the_next_layer(string device)
    {
        using IBackend backend = BackendFactory.Create(device);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        int[] tokens = [.. Enumerable.Range(0, Rows).Select(i => 1 + (i * 37 % 500))];
        using RunState state = model.CreateState(Rows, Rows);
        using var cancel = new CancellationTokenSource();
        var tap = new CancellingTap(cancel, atLayer: 0);

        Assert.ThrowsAny<OperationCanceledException>(() => model.Forward(state, tokens, 0, LogitsMode.Last, tap, cancel.Token));

        Assert.Equal([0], tap.LayersEntered);
        Assert.Equal(0, state.Positions);
        // The chunk cut short counts for nothing: running it again gives what a state never cancelled gives.
        model.Forward(state, tokens, 0, LogitsMode.Last);
        using RunState fresh = model.CreateState(Rows, Rows);
        model.Forward(fresh, tokens, 0, LogitsMode.Last);
        Assert.Equal(model.ReadLogits(fresh), model.ReadLogits(state));
    }

    /// <summary>Records the layers a pass enters, and cancels as it enters <c>atLayer</c>.</summary>
    private sealed class CancellingTap(CancellationTokenSource cancel, int atLayer) : IForwardTap
    {
        public List<int> LayersEntered { get; } = [];

        public void OnLayerInput(int layer, DeviceBuffer hidden, int rows)
        {
            LayersEntered.Add(layer);
            if (layer == atLayer)
            {
                cancel.Cancel();
            }
        }
    }
}
