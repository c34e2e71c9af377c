using Copal.Model.Inference;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// A RunState serves one call at a time: a second call on it while one is in flight (from a tap inside the pass, or
/// another thread) would write the activations, cache and logits the first is using, and both would go on with the
/// other's numbers. It is refused with an <see cref="InvalidOperationException"/> naming RunState, and the first call
/// ends as it would alone. The second call is made from inside the first (a tap at the first layer's input), so the
/// overlap is certain, not a matter of timing.
/// </summary>
public sealed class OverlappingCallsTests : IDisposable
{
    private static readonly int[] Prompt = [1, 403, 407, 261, 378, 414];

    private readonly CpuBackend _backend = new();
    private readonly LlamaModel _model;

    public OverlappingCallsTests() => _model = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Off);

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
    }

    /// <summary>Runs the second call once, at the first layer input it sees, and keeps what it threw.</summary>
    private sealed class SecondCallTap(Action second) : IForwardTap
    {
        public Exception? Thrown { get; private set; }

        public bool Ran { get; private set; }

        public void OnLayerInput(int layer, DeviceBuffer hidden, int rows)
        {
            if (Ran)
            {
                return;
            }
            Ran = true;
            try
            {
                second();
            }
            catch (Exception e)
            {
                Thrown = e;
            }
        }
    }

    private float[] LogitsAlone()
    {
        using RunState state = _model.CreateState(2, 16);
        _model.Forward(state, Prompt, 0, LogitsMode.Last);
        return _model.ReadLogits(state);
    }

    private static void AssertRefused(SecondCallTap tap)
    {
        Assert.True(tap.Ran);
        InvalidOperationException e = Assert.IsType<InvalidOperationException>(tap.Thrown);
        Assert.Contains("RunState", e.Message, StringComparison.Ordinal);
        Assert.Contains("one state per concurrent call", e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string> SecondCalls => ["Forward", "ReadLogits", "ForwardLayer", "Head", "HeadRows", "ForwardBatch", "ForwardBatch's batch"];

    [Theory]
    [MemberData(nameof(SecondCalls))]
    public void A_call_on_a_state_in_a_forward_pass_is_refused_and_the_pass_ends_as_alone(string second)
    {
        float[] alone = LogitsAlone();
        // Two rows a chunk: the prompt runs in three chunks, the tap's call lands in the first.
        using RunState state = _model.CreateState(2, 16);
        using RunState batch = _model.CreateState(2, 16, allRowLogits: true);
        using RunState other = _model.CreateState(1, 16);
        using DeviceBuffer hidden = _backend.Allocate(2L * _model.Config.HiddenSize);
        using DeviceBuffer logits = _backend.Allocate(_model.Config.VocabSize);
        var tap = new SecondCallTap(second switch
        {
            "Forward" => () => _model.Forward(state, [1], 0, LogitsMode.Last),
            "ReadLogits" => () => _model.ReadLogits(state),
            "ForwardLayer" => () => _model.ForwardLayer(state, 0, hidden, 1, 0),
            "Head" => () => _model.Head(state, hidden, 1),
            "HeadRows" => () => _model.HeadRows(state, 0, 1, logits),
            "ForwardBatch" => () => _model.ForwardBatch(batch, [state], [1], [0]),
            "ForwardBatch's batch" => () => _model.ForwardBatch(state, [other], [1], [0]),
            _ => throw new ArgumentOutOfRangeException(nameof(second)),
        });

        _model.Forward(state, Prompt, 0, LogitsMode.Last, tap);

        AssertRefused(tap);
        Assert.Equal(alone, _model.ReadLogits(state));
        Assert.Equal(Prompt.Length, state.Positions);
    }

    /// <summary>Calls that follow one another on one state, and overlapping calls on two states, are not refused.</summary>
    [Fact]
    public void Calls_in_turn_and_calls_on_other_states_are_not_refused()
    {
        float[] alone = LogitsAlone();
        using RunState state = _model.CreateState(2, 16);
        using RunState other = _model.CreateState(2, 16);
        var tap = new SecondCallTap(() => _model.Forward(other, Prompt, 0, LogitsMode.Last));

        _model.Forward(state, Prompt, 0, LogitsMode.Last, tap);

        Assert.True(tap.Ran);
        Assert.Null(tap.Thrown);
        Assert.Equal(alone, _model.ReadLogits(state));
        Assert.Equal(alone, _model.ReadLogits(other));
        // And a refused call left the state free: the next call in turn runs.
        var refused = new SecondCallTap(() => _model.ReadLogits(state));
        _model.Forward(state, [1], Prompt.Length, LogitsMode.Last, refused);
        AssertRefused(refused);
        Assert.Equal(Prompt.Length + 1, state.Positions);
        Assert.Equal(_model.Config.VocabSize, _model.ReadLogits(state).Length);
    }
    /// <summary>
    /// A batch step refused at one of its sequences gives back the states it had taken (the batch and the sequences
    /// before it), and not the one another call holds: that call's state stays refused to others until it ends.
    /// </summary>
    [Fact]
    public void A_batch_step_refused_at_a_busy_sequence_frees_what_it_took_and_not_the_busy_state()
    {
        using RunState state = _model.CreateState(2, 16);
        using RunState batch = _model.CreateState(2, 16, allRowLogits: true);
        using RunState other = _model.CreateState(1, 16);
        Exception? stillHeld = null;
        var tap = new SecondCallTap(() =>
        {
            try
            {
                _model.ForwardBatch(batch, [other, state], [1, 1], [0, 0]);
            }
            finally
            {
                stillHeld = Record.Exception(() => _model.ReadLogits(state));
            }
        });

        _model.Forward(state, Prompt, 0, LogitsMode.Last, tap);

        AssertRefused(tap);
        Assert.IsType<InvalidOperationException>(stillHeld);
        Assert.Equal(0, other.Positions);
        _model.ForwardBatch(batch, [other], [1], [0]);
        Assert.Equal(1, other.Positions);
    }

    /// <summary>A call that ends by an exception (a tap's, or a cancellation) leaves the state free for the next call.</summary>
    [Fact]
    public void A_call_that_throws_leaves_the_state_free()
    {
        float[] alone = LogitsAlone();
        using RunState state = _model.CreateState(2, 16);
        var tap = new ThrowingTap();

        Assert.Throws<InvalidDataException>(() => _model.Forward(state, Prompt, 0, LogitsMode.Last, tap));
        using (var cancelled = new CancellationTokenSource())
        {
            cancelled.Cancel();
            Assert.Throws<OperationCanceledException>(() => _model.Forward(state, Prompt, 0, LogitsMode.Last, cancellationToken: cancelled.Token));
        }
        using DeviceBuffer hidden = _backend.Allocate(2L * _model.Config.HiddenSize);
        Assert.Throws<InvalidDataException>(() => _model.ForwardLayer(state, 0, hidden, 1, 0, tap));

        _model.Forward(state, Prompt, 0, LogitsMode.Last);
        Assert.Equal(alone, _model.ReadLogits(state));
    }

    private sealed class ThrowingTap : IForwardTap
    {
        public void OnLayerInput(int layer, DeviceBuffer hidden, int rows) => throw new InvalidDataException("from the tap");
    }
}
