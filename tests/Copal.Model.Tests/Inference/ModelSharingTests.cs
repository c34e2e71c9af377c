using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// One model shared by threads, each with its own RunState (a Generator per web request): a state that reaches
/// further grows the model's RoPE tables, which frees the buffers another thread's forward pass may be reading. An
/// audit saw ObjectDisposedException in 6 of 30 rounds of that. Forward passes and growth now run one at a time.
/// </summary>
public sealed class ModelSharingTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-share-").FullName;
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        Directory.Delete(_temp, recursive: true);
    }

    /// <summary>Holds the pass at its first layer until told to go on, and says when it is there.</summary>
    private sealed class Holder : IForwardTap, IDisposable
    {
        public readonly ManualResetEventSlim Inside = new(), Go = new();

        public void Dispose()
        {
            Inside.Dispose();
            Go.Dispose();
        }

        public void OnLayerInput(int layer, DeviceBuffer hidden, int rows)
        {
            if (layer == 0)
            {
                Inside.Set();
                Go.Wait();
            }
        }
    }

    [Fact]
    public async Task The_rope_tables_grow_only_between_forward_passes_and_a_pass_computes_what_it_does_alone()
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { MaxPositionEmbeddings = 1 << 12 };
        SyntheticModelWriter.Write(config, _temp, DType.F32, seed: 3, tokenizerDirectory: null);
        using LlamaModel model = LlamaModel.Load(_temp, _backend);
        int[] tokens = [1, 5, 9, 200, 7, 3, 11, 12];
        float[] alone;
        using (RunState first = model.CreateState(tokens.Length, tokens.Length))
        {
            model.Forward(first, tokens, 0, LogitsMode.Last);
            alone = model.ReadLogits(first);
        }

        using var holder = new Holder();
        using RunState state = model.CreateState(tokens.Length, tokens.Length);
        Task pass = Task.Run(() => model.Forward(state, tokens, 0, LogitsMode.Last, holder));
        Assert.True(holder.Inside.Wait(TimeSpan.FromMinutes(1)), "the pass never reached its first layer");
        // Another caller's state for the whole context: its RoPE tables would replace the ones the held pass reads.
        Task grow = Task.Run(() => model.CreateState(1, 1 << 12).Dispose());
        bool grewDuringThePass = await Task.WhenAny(grow, Task.Delay(500)) == grow;
        holder.Go.Set();
        await pass;
        await grow;
        Assert.False(grewDuringThePass, "the RoPE tables were replaced while a forward pass was in flight");
        Assert.Equal(alone, model.ReadLogits(state));
        Assert.Equal(1 << 12, model.RopePositions);
    }
}
