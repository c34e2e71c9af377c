using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Tensors.Backends;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// A state's activation buffers (and every row's logits) hold the rows its calls ran, grown geometrically up to
/// MaxRows as the KV cache grows with positions, on the host and on a device. Growing changes no number: each call
/// computes what a state of MaxRows rows from the start computes, to the bit.
/// </summary>
public sealed class RunStateRowsTests
{
    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void Rows_grow_with_the_calls_and_compute_what_a_whole_state_does(string device)
    {
        using IBackend backend = BackendFactory.Create(device);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        LlamaConfig c = model.Config;
        using var grown = new RunState(backend, c, 128, 512, allRowLogits: true, reservedRows: 1);
        using RunState whole = model.CreateState(128, 512, allRowLogits: true);
        Assert.Equal((1, 128), (grown.Rows, whole.Rows));
        Assert.Equal(c.VocabSize, grown.Logits.Length); // on the device too: the buffers themselves are that small

        int[] prompt = Stories260K(300);
        // (start, rows, the rows held after): exactly a call's rows, or twice what was held where that is more.
        (int Start, int Count, int Rows)[] calls = [(0, 3, 3), (3, 5, 6), (8, 1, 6), (9, 100, 100), (109, 128, 128), (237, 63, 128)];
        foreach ((int start, int count, int rows) in calls)
        {
            ReadOnlySpan<int> tokens = prompt.AsSpan(start, count);
            model.Forward(grown, tokens, start, LogitsMode.All);
            model.Forward(whole, tokens, start, LogitsMode.All);
            Assert.Equal(rows, grown.Rows);
            Assert.Equal((long)rows * c.HiddenSize, grown.Hidden.Length);
            Assert.Equal((long)rows * c.IntermediateSize, grown.Gate.Length);
            Assert.Equal((long)rows * c.VocabSize, grown.Logits.Length);
            Assert.Equal(Bits(model.ReadLogits(whole, count)), Bits(model.ReadLogits(grown, count)));
        }
    }

    /// <summary>A state of the last row's logits keeps one row of them however many rows its activations grow to.</summary>
    [Fact]
    public void The_last_rows_logits_stay_one_row()
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        using var state = new RunState(backend, model.Config, 128, 512, allRowLogits: false, reservedRows: 1);
        using RunState whole = model.CreateState(128, 512);
        int[] prompt = Stories260K(200);
        model.Forward(state, prompt, 0, LogitsMode.Last);
        model.Forward(whole, prompt, 0, LogitsMode.Last);
        Assert.Equal(128, state.Rows);
        Assert.Equal(1, state.LogitRows);
        Assert.Equal(model.Config.VocabSize, state.Logits.Length);
        Assert.Equal(Bits(model.ReadLogits(whole)), Bits(model.ReadLogits(state)));
    }

    /// <summary>Rows past those the state holds were written by no pass: reading their logits is refused, naming the rows held.</summary>
    [Fact]
    public void Head_rows_past_the_rows_held_are_refused()
    {
        using IBackend backend = BackendFactory.Create("cpu");
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        using var state = new RunState(backend, model.Config, 128, 512, allRowLogits: false, reservedRows: 1);
        model.Forward(state, Stories260K(4), 0, LogitsMode.None);
        using DeviceBuffer logits = backend.Allocate(8L * model.Config.VocabSize);
        model.HeadRows(state, 0, 4, logits);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.HeadRows(state, 2, 4, logits));
        Assert.Contains("rows 2..5 outside the state's 0..3", e.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// The head of rows past those the state holds is refused before a kernel runs: it writes their normed rows and
    /// logits into the state's buffers, which hold the rows its calls ran (on a device a write past a buffer's end
    /// lands in another's memory). It cannot grow them, since its input is often the state's own Hidden.
    /// </summary>
    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void Head_of_rows_past_the_rows_held_is_refused(string device)
    {
        using IBackend backend = BackendFactory.Create(device);
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        using var state = new RunState(backend, model.Config, 8, 64, allRowLogits: true, reservedRows: 1);
        model.Forward(state, Stories260K(1), 0, LogitsMode.All);
        using DeviceBuffer hidden = backend.Allocate(4L * model.Config.HiddenSize);
        model.Embed(Stories260K(4), hidden);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.Head(state, hidden, 4));
        Assert.Contains("rows 4 outside the state's logit rows: expected 1 to 1", e.Message, StringComparison.Ordinal);

        // Once a call ran four rows, their head is the one a whole pass computes.
        model.Forward(state, Stories260K(4), 0, LogitsMode.All);
        float[] whole = model.ReadLogits(state, 4);
        model.Head(state, state.Hidden, 4);
        Assert.Equal(Bits(whole), Bits(model.ReadLogits(state, 4)));
    }

    private static int[] Stories260K(int length) => [.. Enumerable.Range(0, length).Select(i => 3 + ((i * 37) % 500))];

    private static string Bits(float[] values) => string.Join(' ', values.Select(v => BitConverter.SingleToInt32Bits(v).ToString("x8", System.Globalization.CultureInfo.InvariantCulture)));
}
