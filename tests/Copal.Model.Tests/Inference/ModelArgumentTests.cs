using Copal.Model.Evaluation;
using Copal.Model.Inference;
using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Model.Tests.Inference;

/// <summary>
/// Wrong arguments and wrong kinds of path: the error names the caller's own parameter, and says what the path is
/// (a file where a folder is expected, or the other way round) instead of that it does not exist.
/// </summary>
public sealed class ModelArgumentTests : IDisposable
{
    private readonly CpuBackend _backend = new();
    private readonly LlamaModel _model;
    private readonly TempDir _temp = new("copal-args-");

    public ModelArgumentTests() => _model = LlamaModel.Load(TestData.Stories260K, _backend);

    public void Dispose()
    {
        _model.Dispose();
        _backend.Dispose();
        _temp.Dispose();
    }

    private static void AssertOneLine(Exception e) => Assert.DoesNotContain('\n', e.Message);

    /// <summary>
    /// An empty path is an ArgumentException naming the parameter. Path.Combine("", "config.json") is "config.json", so
    /// before it was refused the config, tokenizer and chat template of whatever folder the process ran in were read
    /// (a caller's unset setting picked up the working folder's model), while the weights were "'' does not exist".
    /// </summary>
    [Fact]
    public void An_empty_model_path_is_an_ArgumentException_naming_the_parameter()
    {
        string out1 = _temp.File("out");
        (string Parameter, Action Call)[] calls =
        [
            ("directory", () => LlamaModel.Load("", _backend)),
            ("directory", () => Copal.Model.Serving.InferenceEngine.Load("", _backend)),
            ("modelDirectory", () => CopalTokenizer.FromDirectory("")),
            ("path", () => Copal.Model.Config.LlamaConfig.Load("")),
            ("modelDir", () => Copal.Model.ChatTemplates.ChatTemplate.FromDirectory("")),
            ("modelDirectory", () => Copal.Model.Chat.TemplateChatFormatter.ForModel("")),
            ("input", () => CheckpointCompactor.Compact("", out1, CompactFormat.Auto, overwrite: false)),
            ("input", () => CheckpointCompactor.Densify("", out1, overwrite: false)),
        ];
        foreach ((string parameter, Action call) in calls)
        {
            var e = Assert.Throws<ArgumentException>(call);
            Assert.Equal(parameter, e.ParamName);
            AssertOneLine(e);
        }
        Assert.False(Directory.Exists(out1));
    }

    [Fact]
    public void CreateState_names_maxRows_and_maxPositions()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.CreateState(4, maxPositions: 0));
        Assert.Equal("maxPositions", e.ParamName);
        Assert.Contains("got 0", e.Message, StringComparison.Ordinal);
        AssertOneLine(e);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.CreateState(0));
        Assert.Equal("maxRows", e.ParamName);
        AssertOneLine(e);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.CreateLayerState(0));
        Assert.Equal("rows", e.ParamName);
        AssertOneLine(e);
        foreach (int reserve in new[] { 0, 65 })
        {
            e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.CreateState(4, maxPositions: 64, reservePositions: reserve));
            Assert.Equal("reservePositions", e.ParamName);
            Assert.Contains($"reservePositions must be between 1 and the state's limit of 64 positions, got {reserve}", e.Message, StringComparison.Ordinal);
            AssertOneLine(e);
        }
    }

    [Fact]
    public void Forward_may_go_on_or_rewind_but_never_start_past_the_positions_it_ran()
    {
        using RunState state = _model.CreateState(4, maxPositions: 64);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.Forward(state, [1], 5, LogitsMode.Last));
        Assert.Equal("startPos", e.ParamName);
        Assert.Contains("startPos 5 is past the 0 positions this state's cache holds: positions 0..4 were never run", e.Message, StringComparison.Ordinal);
        AssertOneLine(e);

        _model.Forward(state, [1, 20, 30, 40, 50, 60], 0, LogitsMode.Last); // two chunks of at most 4
        Assert.Equal(6, state.Positions);
        float[] afterSix = _model.ReadLogits(state);
        _model.Forward(state, [70], 6, LogitsMode.Last);
        Assert.Equal(7, state.Positions);
        Assert.Throws<ArgumentOutOfRangeException>(() => _model.Forward(state, [1], 8, LogitsMode.Last));

        // Rewinding drops what came after: position 5 again gives what it gave (one row now, two then: the matmul
        // sums in another order), and 7 is no longer held.
        _model.Forward(state, [60], 5, LogitsMode.Last);
        Assert.Equal(6, state.Positions);
        Tolerances.AssertClose(_model.ReadLogits(state), afterSix, what: "logits at position 5 after a rewind");
        Assert.Throws<ArgumentOutOfRangeException>(() => _model.Forward(state, [1], 7, LogitsMode.Last));
    }

    [Fact]
    public void Generation_names_a_null_sampling_a_decodable_count_below_1_and_empty_logits()
    {
        var stops = new HashSet<int>();
        Assert.Equal("sampling", Assert.Throws<ArgumentNullException>(() => new Copal.Model.Generation.Generator(_model).Generate([1], 2, null!, stops)).ParamName);
        foreach (int decodable in new[] { 0, -5 })
        {
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => new Copal.Model.Generation.Generator(_model) { DecodableTokens = decodable }.Generate([1], 2, Copal.Model.Generation.SamplingOptions.Greedy, stops));
            Assert.Equal("DecodableTokens", e.ParamName);
        }
        Assert.Equal("logits", Assert.Throws<ArgumentException>(() => Copal.Model.Generation.Sampler.ArgMax([])).ParamName);
        Assert.Equal("logits", Assert.Throws<ArgumentException>(() => new Copal.Model.Generation.Sampler(Copal.Model.Generation.SamplingOptions.Greedy).Sample(Span<float>.Empty, [])).ParamName);
    }

    /// <summary>Another model's state would index past its buffers, or give back part of its logits as all of them.</summary>
    [Fact]
    public void A_state_of_another_model_or_a_null_or_repeated_sequence_is_refused_naming_it()
    {
        var other = _model.Config with { VocabSize = 1000, EosTokenIds = [] };
        using var foreign = new RunState(_backend, other, 4, 16, allRowLogits: false);
        foreach (Action call in new Action[]
        {
            () => _model.Forward(foreign, [1, 5], 0, LogitsMode.Last),
            () => _model.ReadLogits(foreign),
        })
        {
            var e = Assert.Throws<ArgumentException>(call);
            Assert.Equal("state", e.ParamName);
            Assert.Contains("the state was created for a model of 5 layers, hidden 64, q 64, kv 32, MLP 172, vocab 1000, not for this model of 5 layers, hidden 64, q 64, kv 32, MLP 172, vocab 512", e.Message, StringComparison.Ordinal);
        }
        // The same shapes through another config object fit.
        using var same = new RunState(_backend, _model.Config with { EosTokenIds = [] }, 4, 16, allRowLogits: false);
        _model.Forward(same, [1, 5], 0, LogitsMode.Last);

        using var batch = new RunState(_backend, _model.Config, 2, 1, allRowLogits: true);
        using RunState a = _model.CreateState(1, 16);
        Assert.Equal("sequences[1]", Assert.Throws<ArgumentNullException>(() => _model.ForwardBatch(batch, [a, null!], [7, 7], [0, 0])).ParamName);
        Assert.Equal("sequences[1]", Assert.Throws<ArgumentException>(() => _model.ForwardBatch(batch, [a, foreign], [7, 7], [0, 0])).ParamName);
        var twice = Assert.Throws<ArgumentException>(() => _model.ForwardBatch(batch, [a, a], [7, 7], [0, 0]));
        Assert.Contains("sequences[0] and sequences[1] are the same state", twice.Message, StringComparison.Ordinal);
        Assert.Equal(0, a.Positions);
    }

    [Fact]
    public void A_batch_step_past_a_sequences_positions_is_refused_before_anything_runs()
    {
        using var batch = new RunState(_backend, _model.Config, 2, 1, allRowLogits: true);
        using RunState a = _model.CreateState(1, 16), b = _model.CreateState(1, 16);
        _model.Forward(a, [1, 5], 0, LogitsMode.Last);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.ForwardBatch(batch, [a, b], [7, 7], [2, 1]));
        Assert.Equal("positions", e.ParamName);
        Assert.Contains("batch row 1's position 1 is past the 0 positions this state's cache holds", e.Message, StringComparison.Ordinal);
        Assert.Equal((2, 0), (a.Positions, b.Positions));
        _model.ForwardBatch(batch, [a, b], [7, 7], [2, 0]);
        Assert.Equal((3, 1), (a.Positions, b.Positions));
    }

    [Fact]
    public void Forward_names_startPos_when_it_is_negative()
    {
        using RunState state = _model.CreateState(4);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.Forward(state, [1], -1, LogitsMode.Last));
        Assert.Equal("startPos", e.ParamName);
        Assert.Contains("-1", e.Message, StringComparison.Ordinal);
        AssertOneLine(e);
    }

    /// <summary>The numbers in these messages read the same under any culture: a negative value keeps its ASCII minus.</summary>
    [Fact]
    public void Argument_messages_are_culture_invariant()
    {
        using RunState state = _model.CreateState(4);
        using RunState layerState = _model.CreateLayerState(2);
        using DeviceBuffer hidden = _backend.Allocate(2L * _model.Config.HiddenSize);
        var culture = (System.Globalization.CultureInfo)System.Globalization.CultureInfo.InvariantCulture.Clone();
        culture.NumberFormat.NegativeSign = "~";
        System.Globalization.CultureInfo saved = System.Globalization.CultureInfo.CurrentCulture;
        System.Globalization.CultureInfo.CurrentCulture = culture;
        try
        {
            Assert.Contains("got -1", Assert.Throws<ArgumentOutOfRangeException>(() => _model.Forward(state, [1], -1, LogitsMode.Last)).Message, StringComparison.Ordinal);
            Assert.Contains("got -2", Assert.Throws<ArgumentOutOfRangeException>(() => _model.CreateState(-2)).Message, StringComparison.Ordinal);
            Assert.Contains("got -3", Assert.Throws<ArgumentOutOfRangeException>(() => _model.CreateState(4, maxPositions: -3)).Message, StringComparison.Ordinal);
            Assert.Contains("got -4", Assert.Throws<ArgumentOutOfRangeException>(() => _model.CreateLayerState(-4)).Message, StringComparison.Ordinal);
            Assert.Contains("rows -5", Assert.Throws<ArgumentOutOfRangeException>(() => _model.ReadLogits(state, -5)).Message, StringComparison.Ordinal);
            Assert.Contains("layer -6", Assert.Throws<ArgumentOutOfRangeException>(() => _model.ForwardLayer(layerState, -6, hidden, 2, 0)).Message, StringComparison.Ordinal);
            Assert.Contains("rows -7", Assert.Throws<ArgumentOutOfRangeException>(() => _model.ForwardLayer(layerState, 0, hidden, -7, 0)).Message, StringComparison.Ordinal);
            Assert.Contains("got -8", Assert.Throws<ArgumentOutOfRangeException>(() => _model.ForwardLayer(layerState, 0, hidden, 2, -8)).Message, StringComparison.Ordinal);
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = saved;
        }
    }

    [Fact]
    public void ReadLogits_beyond_the_states_logit_rows_says_so()
    {
        using RunState state = _model.CreateState(4);
        _model.Forward(state, [1, 403], 0, LogitsMode.Last);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.ReadLogits(state, 1000));
        Assert.Equal("rows", e.ParamName);
        Assert.Contains("rows 1000", e.Message, StringComparison.Ordinal);
        Assert.Contains("logit rows", e.Message, StringComparison.Ordinal);
        AssertOneLine(e);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.ReadLogits(state, 0));
        Assert.Equal("rows", e.ParamName);
        var d = Assert.Throws<ArgumentException>(() => _model.ReadLogits(state, new float[2 * _model.Config.VocabSize]));
        Assert.Equal("destination", d.ParamName);
        Assert.Contains("logit rows", d.Message, StringComparison.Ordinal);
        AssertOneLine(d);
    }

    [Fact]
    public void ForwardLayer_names_a_layer_outside_the_model()
    {
        using RunState state = _model.CreateLayerState(2);
        using DeviceBuffer hidden = _backend.Allocate(2L * _model.Config.HiddenSize);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.ForwardLayer(state, _model.Config.NumLayers, hidden, 2, 0));
        Assert.Equal("layer", e.ParamName);
        AssertOneLine(e);
        e = Assert.Throws<ArgumentOutOfRangeException>(() => _model.ForwardLayer(state, 0, hidden, 2, -1));
        Assert.Equal("startPos", e.ParamName);
    }

    /// <summary>A layer outside the model was an IndexOutOfRangeException (a layer state's one cache answered any layer).</summary>
    [Fact]
    public void CacheStart_names_a_layer_outside_the_model()
    {
        using RunState state = _model.CreateState(2, 8);
        using RunState layerState = _model.CreateLayerState(2);
        foreach (RunState s in new[] { state, layerState })
        {
            foreach (int layer in new[] { -1, _model.Config.NumLayers })
            {
                var e = Assert.Throws<ArgumentOutOfRangeException>(() => s.CacheStart(layer));
                Assert.Equal("layer", e.ParamName);
                Assert.Contains($"expected 0 to {_model.Config.NumLayers - 1}", e.Message, StringComparison.Ordinal);
                AssertOneLine(e);
            }
            Assert.Equal(0, s.CacheStart(_model.Config.NumLayers - 1));
        }
    }

    [Fact]
    public void Loading_a_file_as_a_model_folder_says_it_is_a_file()
    {
        string config = Path.Combine(TestData.Stories260K, "config.json");
        var e = Assert.Throws<ModelLoadException>(() => LlamaModel.Load(config, _backend));
        Assert.Contains($"'{config}' is a file", e.Message, StringComparison.Ordinal);
        Assert.Contains("expected a model folder", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("does not exist", e.Message, StringComparison.Ordinal);
        AssertOneLine(e);
    }

    [Fact]
    public void Null_paths_throw_ArgumentNullException_naming_the_callers_parameter()
    {
        Assert.Equal("directory", Assert.Throws<ArgumentNullException>(() => LlamaModel.Load(null!, _backend)).ParamName);
        Assert.Equal("modelDirectory", Assert.Throws<ArgumentNullException>(() => CopalTokenizer.FromDirectory(null!)).ParamName);
        Assert.Equal("tokenizerJsonPath", Assert.Throws<ArgumentNullException>(() => CopalTokenizer.FromFile(null!)).ParamName);
        Assert.Equal("path", Assert.Throws<ArgumentNullException>(() => TextDataset.Load(null!)).ParamName);
    }

    [Fact]
    public void A_folder_given_as_a_text_file_says_it_is_a_folder()
    {
        var e = Assert.Throws<IOException>(() => TextDataset.Load(_temp.Path));
        Assert.IsNotType<FileNotFoundException>(e);
        Assert.Contains($"'{_temp.Path}' is a folder; expected a text file", e.Message, StringComparison.Ordinal);
        AssertOneLine(e);
    }

    [Fact]
    public void A_folder_given_as_a_tokenizer_file_is_a_TokenizerException_saying_so()
    {
        var e = Assert.Throws<TokenizerException>(() => CopalTokenizer.FromFile(_temp.Path));
        Assert.Contains($"{_temp.Path}: is a directory, expected a file", e.Message, StringComparison.Ordinal);
        string json = Path.Combine(TestData.Stories260K, "tokenizer.json");
        e = Assert.Throws<TokenizerException>(() => CopalTokenizer.FromFile(json, _temp.Path));
        Assert.Contains($"{_temp.Path}: is a directory, expected a file", e.Message, StringComparison.Ordinal);
        AssertOneLine(e);
        // A tokenizer_config.json that is absent is the project's error too, not the runtime's.
        string absent = _temp.File("tokenizer_config.json");
        e = Assert.Throws<TokenizerException>(() => CopalTokenizer.FromFile(json, absent));
        Assert.Contains(absent, e.Message, StringComparison.Ordinal);
    }
}
