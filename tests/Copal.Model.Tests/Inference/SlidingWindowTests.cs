using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Tensors;
using Copal.Tensors.Backends;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// A model with a sliding window (Mistral 7B v0.1's <c>sliding_window</c>) attends through it in every pass, as
/// Hugging Face masks it: a layer's row at position p sees positions p − W + 1 … p. On a two-layer model with W = 5 a
/// token reaches the output at most 2 · (W − 1) = 8 positions later; without the window it reaches every later one.
/// </summary>
public sealed class SlidingWindowTests() : SyntheticModelTests("window", Length)
{
    private const int Window = 5, Reach = 2 * (Window - 1), Length = 40;

    /// <summary>test-tiny (two layers) as a Mistral with <paramref name="window"/>, or none; the same weights either way.</summary>
    private string Write(int? window)
    {
        string dir = Path.Combine(Temp, $"window-{window?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}");
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with
        {
            Architecture = "MistralForCausalLM",
            SlidingWindow = window,
            SlidingWindowLayers = window is null ? [] : [0, 1],
        };
        SyntheticModelWriter.Write(config, dir, DType.F32, seed: 11, tokenizerDirectory: null);
        return dir;
    }

    [Fact]
    public void The_config_on_disk_gives_the_model_its_window()
    {
        using LlamaModel model = LlamaModel.Load(Write(Window), Backend);
        Assert.Equal(Window, model.Config.SlidingWindow);
        Assert.Equal([Window, Window], Enumerable.Range(0, 2).Select(model.Config.AttentionWindow));
    }

    [Fact]
    public void A_token_reaches_no_further_than_the_windows_of_the_layers_carry_it()
    {
        int[] changed = [.. Prompt];
        changed[0] = 4242;
        using LlamaModel windowed = LlamaModel.Load(Write(Window), Backend);
        using LlamaModel full = LlamaModel.Load(Write(null), Backend);
        float[][] a = PositionLogits.Of(windowed, Prompt, Length), b = PositionLogits.Of(windowed, changed, Length);
        for (int p = 0; p < Length; p++)
        {
            // Past its reach the first token takes no part in any sum: the logits are the same to the bit.
            Assert.Equal(p > Reach, a[p].AsSpan().SequenceEqual(b[p]));
        }
        // Without the window the first token changes the last position's logits.
        Assert.False(PositionLogits.Of(full, Prompt, Length)[^1].AsSpan().SequenceEqual(PositionLogits.Of(full, changed, Length)[^1]));
    }

    [Fact]
    public void Within_the_window_the_model_is_full_attention_and_beyond_it_is_not()
    {
        using LlamaModel windowed = LlamaModel.Load(Write(Window), Backend);
        using LlamaModel full = LlamaModel.Load(Write(null), Backend);
        float[][] a = PositionLogits.Of(windowed, Prompt, Length), b = PositionLogits.Of(full, Prompt, Length);
        for (int p = 0; p < Length; p++)
        {
            Assert.Equal(p < Window, a[p].AsSpan().SequenceEqual(b[p]));
        }
    }

    /// <summary>
    /// A state whose cache was copied from another's prefill (the serving engine's n choices of one prompt) decodes
    /// as the state that ran it, to the bit, also after the window's cache slid: rows of 4 keep at most 2·5 + 4 = 14
    /// positions, and the prompt has 30.
    /// </summary>
    [Fact]
    public void A_copied_cache_decodes_as_the_prefill_it_was_copied_from()
    {
        using LlamaModel model = LlamaModel.Load(Write(Window), Backend);
        using RunState ran = model.CreateState(maxRows: 4, maxPositions: Length, reservePositions: 8);
        using RunState copied = model.CreateState(maxRows: 4, maxPositions: Length, reservePositions: 8);
        model.Forward(ran, Prompt.AsSpan(0, 30), 0, LogitsMode.Last);
        Assert.NotEqual(0, ran.CacheStart(0));
        copied.CopyCacheFrom(ran, 30);
        for (int p = 30; p < Length; p++)
        {
            model.Forward(ran, [Prompt[p]], p, LogitsMode.Last);
            model.Forward(copied, [Prompt[p]], p, LogitsMode.Last);
            Assert.Equal(model.ReadLogits(ran), model.ReadLogits(copied));
        }
        using RunState other = model.CreateState(maxRows: 2, maxPositions: Length);
        Assert.Throws<ArgumentException>(() => other.CopyCacheFrom(ran, Length));
    }

    [Theory]
    [InlineData(1)]   // decode: one row over the cache (the per-row kernel)
    [InlineData(17)]  // chunks after a cache (the blocked kernel, windows starting inside the cached keys)
    public void Decode_and_chunked_prompts_under_a_window_match_the_whole_prompt(int chunk)
    {
        using LlamaModel model = LlamaModel.Load(Write(Window), Backend);
        float[][] whole = PositionLogits.Of(model, Prompt, Length), chunked = PositionLogits.Of(model, Prompt, chunk);
        for (int p = 0; p < Length; p++)
        {
            Tolerances.AssertClose(chunked[p], whole[p], what: $"logits at position {p} in chunks of {chunk}");
        }
    }

    [Fact]
    public void A_sliding_window_cache_holds_two_windows_and_a_chunk_however_long_the_text()
    {
        using LlamaModel windowed = LlamaModel.Load(Write(Window), Backend);
        using LlamaModel full = LlamaModel.Load(Write(null), Backend);
        float[][] whole = PositionLogits.Of(windowed, Prompt, Length);
        using RunState state = windowed.CreateState(2, Length);
        using RunState fullState = full.CreateState(2, Length);
        for (int p = 0; p < Length; p += 2)
        {
            windowed.Forward(state, Prompt.AsSpan(p, 2), p, LogitsMode.Last);
            full.Forward(fullState, Prompt.AsSpan(p, 2), p, LogitsMode.Last);
            Tolerances.AssertClose(windowed.ReadLogits(state), whole[p + 1], what: $"logits at position {p + 1} through the sliding cache");
        }
        // 2 · 5 + 2 positions a layer, where full attention holds all 40; the cache slid to keep the last ones.
        int kvDim = windowed.Config.KvDim, limit = (2 * Window) + 2;
        Assert.Equal(2L * 2 * limit * kvDim * sizeof(float), state.KvCacheBytes);
        Assert.Equal(2L * 2 * Length * kvDim * sizeof(float), fullState.KvCacheBytes);
        Assert.True(state.CacheStart(0) > 0, "the cache never slid");
        Assert.Equal(state.CacheStart(0), state.CacheStart(1));
    }

    [Fact]
    public void A_pass_may_rewind_as_far_as_the_sliding_cache_still_reaches_or_start_again()
    {
        using LlamaModel model = LlamaModel.Load(Write(Window), Backend);
        float[][] whole = PositionLogits.Of(model, Prompt, Length);
        using RunState state = model.CreateState(1, Length);
        for (int p = 0; p < Length; p++)
        {
            model.Forward(state, Prompt.AsSpan(p, 1), p, LogitsMode.Last);
        }
        int start = state.CacheStart(0);
        // Position start + 4 reads keys from start on: still held. One position earlier reads start − 1: dropped.
        model.Forward(state, Prompt.AsSpan(start + Window - 1, 1), start + Window - 1, LogitsMode.Last);
        Tolerances.AssertClose(model.ReadLogits(state), whole[start + Window - 1], what: "logits after a rewind the cache reaches");
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.Forward(state, Prompt.AsSpan(start + Window - 2, 1), start + Window - 2, LogitsMode.Last));
        Assert.Contains($"startPos {start + Window - 2} rewinds further than layer 0's sliding-window cache reaches: its window of {Window} needs positions {start - 1}..", e.Message, StringComparison.Ordinal);
        // From 0 the state starts again.
        model.Forward(state, Prompt.AsSpan(0, 1), 0, LogitsMode.Last);
        Assert.Equal(0, state.CacheStart(0));
        Tolerances.AssertClose(model.ReadLogits(state), whole[0], what: "logits of a pass started again");
    }

    [Fact]
    public void Layer_by_layer_passes_slide_each_layers_cache_as_a_whole_pass_does()
    {
        using LlamaModel model = LlamaModel.Load(Write(Window), Backend);
        float[][] whole = PositionLogits.Of(model, Prompt, Length);
        using RunState state = model.CreateState(2, Length, allRowLogits: true);
        int vocab = model.Config.VocabSize;
        for (int p = 0; p < Length; p += 2)
        {
            model.Embed(Prompt.AsSpan(p, 2), state.Hidden);
            for (int layer = 0; layer < model.Config.NumLayers; layer++)
            {
                model.ForwardLayer(state, layer, state.Hidden, 2, p);
            }
            model.Head(state, state.Hidden, 2);
            Tolerances.AssertClose(model.ReadLogits(state, 2).AsSpan(vocab), whole[p + 1], what: $"layer-by-layer logits at position {p + 1}");
        }
        Assert.True(state.CacheStart(0) > 0, "the cache never slid");
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.ForwardLayer(state, 0, state.Hidden, 1, 3));
        Assert.Contains("startPos 3 rewinds further than layer 0's sliding-window cache reaches", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_batched_decode_step_attends_through_the_window()
    {
        using LlamaModel model = LlamaModel.Load(Write(Window), Backend);
        float[][] whole = PositionLogits.Of(model, Prompt, Length);
        using RunState sequence = model.CreateState(1, Length);
        using RunState batch = model.CreateState(1, 1, allRowLogits: true);
        for (int p = 0; p < Length; p++)
        {
            model.ForwardBatch(batch, [sequence], Prompt.AsSpan(p, 1), [p]);
            Tolerances.AssertClose(model.ReadLogits(batch), whole[p], what: $"batched decode logits at position {p}");
        }
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_attends_through_the_window_as_the_cpu_does() => AttendsThroughTheWindowAsTheCpuDoes("ilgpu-cpu");

    // On a GPU too (tools/device-check.sh): its kernels run at a GPU's group sizes, which the CPU accelerator only imitates.
    [DeviceFact("cuda")]
    public void Cuda_attends_through_the_window_as_the_cpu_does() => AttendsThroughTheWindowAsTheCpuDoes("cuda");

    private void AttendsThroughTheWindowAsTheCpuDoes(string kind)
    {
        string dir = Write(Window);
        using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor(kind, out _)!);
        using LlamaModel onDevice = LlamaModel.Load(dir, device);
        using LlamaModel onCpu = LlamaModel.Load(dir, Backend);
        float[][] expected = PositionLogits.Of(onCpu, Prompt, Length);
        foreach (int chunk in (int[])[Length, 1])
        {
            float[][] actual = PositionLogits.Of(onDevice, Prompt, chunk);
            for (int p = 0; p < Length; p++)
            {
                Tolerances.AssertClose(actual[p], expected[p], what: $"{kind} logits at position {p} in chunks of {chunk}");
            }
        }
    }
}
