using Copal.Model.Inference;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// A RunState used after Dispose: its KV cache and activations are freed, so every call given it must refuse with an
/// <see cref="ObjectDisposedException"/> naming the state. A forward pass took it, grew new activation rows on it
/// (memory nothing frees again) and then failed on the freed cache with "Value cannot be null (Parameter 'buffer')";
/// ReadLogits then read the new rows' zeros as logits.
/// </summary>
public sealed class DisposedStateTests : IDisposable
{
    private readonly CpuBackend _backend = new();
    private readonly LlamaModel _model;

    public DisposedStateTests() => _model = LlamaModel.Load(TestData.Stories260K, _backend, SparseLoadMode.Off);

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
    }

    private static void AssertNamesState(ObjectDisposedException e) =>
        Assert.Equal(typeof(RunState).FullName, e.ObjectName);

    [Fact]
    public void Every_call_given_a_disposed_state_throws_and_allocates_nothing()
    {
        RunState state = _model.CreateState(4, 16);
        RunState layerState = _model.CreateLayerState(4);
        using RunState live = _model.CreateState(4, 16);
        using RunState batch = _model.CreateState(2, 16, allRowLogits: true);
        using DeviceBuffer hidden = _backend.Allocate(4L * _model.Config.HiddenSize);
        using DeviceBuffer logits = _backend.Allocate(_model.Config.VocabSize);
        _model.Forward(state, [1, 403], 0, LogitsMode.Last);
        state.Dispose();
        layerState.Dispose();
        state.Dispose();

        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => _model.Forward(state, [1, 403, 407], 0, LogitsMode.Last)));
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => _model.ReadLogits(state)));
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => _model.ReadLogits(state, new float[_model.Config.VocabSize])));
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => _model.ForwardLayer(layerState, 0, hidden, 2, 0)));
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => _model.Head(state, hidden, 1)));
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => _model.HeadRows(state, 0, 1, logits)));
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => _model.ForwardBatch(batch, [state], [407], [2])));
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => state.EnsureRows(4)));
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => state.EnsurePositions(16)));
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => state.Hidden));
        // The caches' entries are freed: a buffer read from them failed as "Value cannot be null (Parameter 'buffer')".
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => state.KCache));
        AssertNamesState(Assert.Throws<ObjectDisposedException>(() => state.VCache));
        Assert.Equal(0, state.ActivationBytes);
        Assert.Equal(0, layerState.ActivationBytes);

        // The model and the other states are untouched.
        _model.Forward(live, [1, 403], 0, LogitsMode.Last);
        Assert.Equal(_model.Config.VocabSize, _model.ReadLogits(live).Length);
    }
}
