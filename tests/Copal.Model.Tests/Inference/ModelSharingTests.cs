using Copal.Model.Config;
using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// One model shared by threads, each with its own RunState (a Generator per web request): a state that reaches
/// further grows the model's RoPE tables, which frees the buffers another thread's forward pass may be reading. An
/// audit saw ObjectDisposedException in 6 of 30 rounds of that. Forward passes and growth now run one at a time.
/// </summary>
public sealed class ModelSharingTests : IDisposable
{
    private readonly TempDir _temp = new("copal-share-");
    private readonly CpuBackend _backend = new();

    public void Dispose()
    {
        _backend.Dispose();
        _temp.Dispose();
    }

    /// <summary>Holds the pass at its first layer until told to go on, and says when it is there.</summary>
    private sealed class Holder(LlamaModel model) : IForwardTap, IDisposable
    {
        public readonly ManualResetEventSlim Inside = new(), Go = new();

        /// <summary>Whether the pass held the model's run lock at its first layer.</summary>
        public bool HeldTheLock { get; private set; }

        public void Dispose()
        {
            Inside.Dispose();
            Go.Dispose();
        }

        public void OnLayerInput(int layer, DeviceBuffer hidden, int rows)
        {
            if (layer == 0)
            {
                HeldTheLock = model.RunLockHeldHere;
                Inside.Set();
                Go.Wait();
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a thread of its own and returns once that thread has finished or is blocked
    /// (behind the model's run lock, here): a fixed delay could open the gate before the thread even reached the lock,
    /// and the test would pass whatever the lock did.
    /// </summary>
    private static Thread StartAndWaitUntilBlocked(Action work, List<Exception> errors)
    {
        var thread = new Thread(() =>
        {
            try
            {
                work();
            }
            catch (Exception e)
            {
                lock (errors)
                {
                    errors.Add(e);
                }
            }
        });
        thread.Start();
        Assert.True(SpinWait.SpinUntil(() => !thread.IsAlive || thread.ThreadState.HasFlag(ThreadState.WaitSleepJoin), TimeSpan.FromMinutes(1)),
            "the thread neither finished nor blocked");
        return thread;
    }

    [Fact]
    public async Task The_rope_tables_grow_only_between_forward_passes_and_a_pass_computes_what_it_does_alone()
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { MaxPositionEmbeddings = 1 << 12 };
        SyntheticModelWriter.Write(config, _temp.Path, DType.F32, seed: 3, tokenizerDirectory: null);
        using LlamaModel model = LlamaModel.Load(_temp.Path, _backend);
        int[] tokens = [1, 5, 9, 200, 7, 3, 11, 12];
        float[] alone;
        using (RunState first = model.CreateState(tokens.Length, tokens.Length))
        {
            model.Forward(first, tokens, 0, LogitsMode.Last);
            alone = model.ReadLogits(first);
        }

        using var holder = new Holder(model);
        using RunState state = model.CreateState(tokens.Length, tokens.Length);
        Task pass = Task.Run(() => model.Forward(state, tokens, 0, LogitsMode.Last, holder));
        Assert.True(holder.Inside.Wait(TimeSpan.FromMinutes(1)), "the pass never reached its first layer");
        // Another caller's state for the whole context: its RoPE tables would replace the ones the held pass reads.
        var errors = new List<Exception>();
        Thread grow = StartAndWaitUntilBlocked(() => model.CreateState(1, 1 << 12).Dispose(), errors);
        bool grewDuringThePass = !grow.IsAlive;
        holder.Go.Set();
        await pass;
        grow.Join();
        Assert.Empty(errors);
        Assert.True(holder.HeldTheLock, "the pass ran without the model's run lock");
        Assert.False(grewDuringThePass, "the RoPE tables were replaced while a forward pass was in flight");
        Assert.Equal(alone, model.ReadLogits(state));
        Assert.Equal(1 << 12, model.RopePositions);
    }

    [Fact]
    public async Task A_dispose_behind_a_pass_in_flight_leaves_later_calls_an_ObjectDisposedException_naming_the_model()
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { MaxPositionEmbeddings = 64 };
        SyntheticModelWriter.Write(config, _temp.Path, DType.F32, seed: 3, tokenizerDirectory: null);
        LlamaModel model = LlamaModel.Load(_temp.Path, _backend);
        using RunState state = model.CreateState(4, 4);
        using RunState other = model.CreateState(4, 4);
        using var holder = new Holder(model);
        Task pass = Task.Run(() => model.Forward(state, [1, 2, 3, 4], 0, LogitsMode.Last, holder));
        Assert.True(holder.Inside.Wait(TimeSpan.FromMinutes(1)), "the pass never reached its first layer");
        // Both wait behind the held pass; whichever runs first, the weights are never read after they are freed.
        var errors = new List<Exception>();
        Thread head = StartAndWaitUntilBlocked(() => model.Head(other, other.Hidden, 1), errors);
        Thread dispose = StartAndWaitUntilBlocked(model.Dispose, errors);
        Assert.True(head.IsAlive && dispose.IsAlive, "the head or the dispose did not wait behind the pass in flight");
        holder.Go.Set();
        await pass;
        dispose.Join();
        head.Join();
        // The head ran before the dispose, or found the model disposed; nothing else may have gone wrong.
        Assert.All(errors, e => Assert.Equal(typeof(LlamaModel).FullName, Assert.IsType<ObjectDisposedException>(e).ObjectName));
        Assert.Equal(typeof(LlamaModel).FullName, Assert.Throws<ObjectDisposedException>(() => model.Head(other, other.Hidden, 1)).ObjectName);
    }

    /// <summary>Sets <see cref="Done"/> once the prefill has run <paramref name="tokens"/> tokens (Report is called on the generating thread).</summary>
    private sealed class PrefillDone(int tokens) : IProgress<int>, IDisposable
    {
        public readonly ManualResetEventSlim Done = new();

        public void Report(int value)
        {
            if (value == tokens)
            {
                Done.Set();
            }
        }

        public void Dispose() => Done.Dispose();
    }

    /// <summary>
    /// Two Generators on one F16 model (the panel GEMV's per-thread input scratch), the second's 460-token prompt run
    /// whole between two decode steps of the first: it grows the RoPE tables the first is reading (the held rows
    /// copied, the rest computed) and its KV cache, and gives its 460 prompt rows back (RunState.ReleaseRows) while
    /// the first goes on. Each must choose the tokens it chooses on a model of its own.
    /// </summary>
    [Fact]
    public async Task A_generation_overtaken_between_its_steps_by_a_longer_prompt_chooses_what_it_chooses_alone()
    {
        // stories260K (a real model: a synthetic one's attention is near uniform, so its tokens hardly depend on the
        // RoPE tables) stored F16; its context of 512 holds both runs.
        F16Checkpoints.Copy(TestData.Stories260K, _temp.Path);
        int[] shortPrompt = [1, 17, 300];
        int[] longPrompt = [.. Enumerable.Range(0, 460).Select(i => 3 + ((i * 37) % 509))];
        var greedy = new SamplingOptions();
        var seeded = new SamplingOptions { Temperature = 0.9f, TopK = 40, Seed = 11 };
        IReadOnlyList<int> shortAlone, longAlone;
        using (LlamaModel own = LlamaModel.Load(_temp.Path, _backend))
        {
            shortAlone = new Generator(own).Generate(shortPrompt, 40, greedy, new HashSet<int>()).GeneratedIds;
        }
        using (LlamaModel own = LlamaModel.Load(_temp.Path, _backend))
        {
            longAlone = new Generator(own).Generate(longPrompt, 20, seeded, new HashSet<int>()).GeneratedIds;
        }

        using LlamaModel model = LlamaModel.Load(_temp.Path, _backend);
        using var longGo = new ManualResetEventSlim();
        using var prefilled = new PrefillDone(longPrompt.Length);
        int ropeBefore = 0, ropeAfter = 0, tokens = 0;
        Task<IReadOnlyList<int>> longRun = Task.Run(() =>
        {
            Assert.True(longGo.Wait(TimeSpan.FromMinutes(1)), "the first generation never reached its fifth token");
            return new Generator(model) { PrefillProgress = prefilled }.Generate(longPrompt, 20, seeded, new HashSet<int>()).GeneratedIds;
        });
        IReadOnlyList<int> shortShared = new Generator(model).Generate(shortPrompt, 40, greedy, new HashSet<int>(), _ =>
        {
            if (++tokens == 5)
            {
                ropeBefore = model.RopePositions;
                longGo.Set();
                Assert.True(prefilled.Done.Wait(TimeSpan.FromMinutes(1)), "the long prompt's prefill never ended");
                ropeAfter = model.RopePositions;
            }
        }).GeneratedIds;
        IReadOnlyList<int> longShared = await longRun;

        Assert.True(ropeBefore < longPrompt.Length && ropeAfter >= longPrompt.Length,
            $"the RoPE tables did not grow between the first generation's steps: {ropeBefore} positions, then {ropeAfter}");
        Assert.Equal(shortAlone, shortShared);
        Assert.Equal(longAlone, longShared);
    }
}
