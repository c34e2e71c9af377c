using Copal.Model.Config;
using Copal.Model.Inference;
using Copal.Model.Synthetic;
using Copal.Model.Tokenization;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Numerics;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>The layer-sequential driver on the real stories260K model.</summary>
public sealed class LayerwisePrunerTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-prune-").FullName;

    private static CalibrationSet Calibration(int nsamples = 4, int seqLen = 64) =>
        CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K), [TestData.Path("text", "tinystories", "calib.txt")], nsamples, seqLen, seed: 0);

    private string Prune(string method, SparsityPattern pattern, bool trueSequential = false, CalibrationSet? calibration = null)
    {
        string outDir = Path.Combine(_temp, $"{method}-{pattern.ToString().Replace(':', 'o')}-{trueSequential}");
        using var backend = new CpuBackend();
        PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create(method),
            new PruneOptions(pattern) { TrueSequential = trueSequential }, calibration ?? Calibration()), backend);
        return outDir;
    }

    /// <summary>
    /// A disposed model is refused where the driver is made, naming the model as its own calls do, not partway into a
    /// run (magnitude alone runs no forward pass, and would first meet the freed weights in the backend).
    /// </summary>
    [Fact]
    public void A_disposed_model_is_refused_when_the_driver_is_made()
    {
        using var backend = new CpuBackend();
        LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend, Copal.Tensors.Sparse.SparseLoadMode.Off);
        using SafetensorsCheckpoint source = ModelCheckpoint.Open(TestData.Stories260K, model.Config);
        model.Dispose();
        ObjectDisposedException e = Assert.Throws<ObjectDisposedException>(() =>
            new LayerwisePruner(model, source, PrunerFactory.Create("magnitude"), new PruneOptions(SparsityPattern.Parse("0.5"))));
        Assert.Equal(typeof(LlamaModel).FullName, e.ObjectName);
    }

    [Theory]
    [InlineData("magnitude", "0.5")]
    [InlineData("wanda", "0.5")]
    [InlineData("sparsegpt", "0.5")]
    [InlineData("wanda", "0.7")]
    [InlineData("wanda", "2:4")]
    [InlineData("sparsegpt", "2:4")]
    [InlineData("magnitude", "2:4")]
    public void Every_pruned_matrix_has_exactly_the_target_sparsity(string method, string patternText)
    {
        SparsityPattern pattern = SparsityPattern.Parse(patternText);
        string outDir = Prune(method, pattern);
        using var pruned = SafetensorsCheckpoint.Open(outDir);
        using var dense = SafetensorsCheckpoint.Open(TestData.Stories260K);
        foreach (TensorView t in pruned.Tensors)
        {
            var w = new float[t.ElementCount];
            FloatConvert.ToSingle(t, w);
            if (!LlamaTensorNames.TryParseLinear(t.Name, out _, out _))
            {
                // Everything else is copied bit for bit.
                Assert.True(t.Bytes.SequenceEqual(dense[t.Name].Bytes), t.Name);
                continue;
            }
            int rows = (int)t.Shape[0], cols = (int)t.Shape[1];
            switch (pattern)
            {
                case SparsityPattern.NM nm:
                    SparsityCheck.ValidateNM(w, rows, cols, nm.N, nm.M);
                    Assert.Equal((long)rows * cols * nm.N / nm.M, SparsityCheck.CountZeros(w));
                    break;
                case SparsityPattern.Unstructured u when method == "sparsegpt":
                    // SparseGPT compares within blocks of 128 columns across all rows, pruning at or below the saliency at
                    // sorted index ⌊size·s⌋ (its reference's rule): one more than ⌊size·s⌋ where that saliency is unique.
                    for (int c0 = 0; c0 < cols; c0 += 128)
                    {
                        int width = Math.Min(128, cols - c0);
                        long blockZeros = 0;
                        for (int r = 0; r < rows; r++)
                        {
                            blockZeros += SparsityCheck.CountZeros(w.AsSpan(r * cols + c0, width));
                        }
                        Assert.Equal((long)Math.Floor(rows * (long)width * u.Ratio) + 1, blockZeros);
                    }
                    break;
                case SparsityPattern.Unstructured u when method == "magnitude":
                    Assert.Equal((long)Math.Floor(rows * (long)cols * u.Ratio), SparsityCheck.CountZeros(w));
                    break;
                case SparsityPattern.Unstructured u:
                    long perRow = (long)Math.Floor(cols * u.Ratio);
                    int[] zeros = new int[rows];
                    SparsityCheck.CountZerosPerRow(w, rows, cols, zeros);
                    Assert.All(zeros, z => Assert.Equal(perRow, z));
                    break;
            }
        }
    }

    [Fact]
    public void A_pattern_that_does_not_fit_is_refused_before_any_work()
    {
        // stories260K's down_proj has 172 inputs: 4:8 cannot apply.
        var e = Assert.Throws<PruningOptionException>(() => Prune("magnitude", SparsityPattern.Parse("4:8")));
        Assert.Equal("option 'pattern' has value '4:8', expected a pattern whose M divides every linear's input size, but model.layers.0.mlp.down_proj.weight has 172 inputs (not a multiple of 8)", e.Message);
        Assert.Empty(Directory.GetDirectories(_temp));
    }

    [Fact]
    public void An_NM_pattern_that_would_straddle_SparseGpt_blocks_is_refused_before_any_work_naming_the_pattern()
    {
        // Every input size is a multiple of 3, so 1:3 fits the linears (magnitude and Wanda prune it), but SparseGPT
        // chooses N:M groups inside blocks of 128 columns, and 128 is not a multiple of 3. copal prune has no
        // --blocksize, so the refusal names --pattern, and it comes before the calibration passes.
        string model = Path.Combine(_temp, "width96");
        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny") with { HiddenSize = 96, IntermediateSize = 192, HeadDim = 24 },
            model, DType.F32, seed: 3, tokenizerDirectory: null);
        var calibration = CalibrationSet.FromTokens([("text", [.. Enumerable.Range(0, 129).Select(i => 1 + (i * 7919 % 31000))])], 4, 32, 0);
        string outDir = Path.Combine(_temp, "width96-sparsegpt");
        var progress = new List<PruneProgress>();
        using var backend = new CpuBackend(threads: 1);
        var e = Assert.Throws<PruningOptionException>(() => PruneJob.Run(new PruneRequest(model, outDir, PrunerFactory.Create("sparsegpt"),
            new PruneOptions(SparsityPattern.Parse("1:3")), calibration), backend, new CallbackProgress<PruneProgress>(progress.Add)));
        Assert.Equal("pattern", e.Option);
        Assert.Equal("1:3", e.Value);
        Assert.Contains("128", e.Expected, StringComparison.Ordinal);
        // Only the load was reported: no layer was started.
        Assert.All(progress, p => Assert.Equal(-1, p.Layer));
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData("2:4")]
    [InlineData("0.6")]
    public void Magnitude_without_the_layer_error_runs_no_forward_pass_and_prunes_the_same(string patternText)
    {
        var pattern = SparsityPattern.Parse(patternText);
        PruneReport Run(string name, bool layerError)
        {
            using var backend = new CpuBackend();
            return PruneJob.Run(new PruneRequest(TestData.Stories260K, Path.Combine(_temp, name), PrunerFactory.Create("magnitude"),
                new PruneOptions(pattern) { MeasureLayerError = layerError, Layers = PruneOptions.ParseLayers("0-1,3", 5) }, Calibration()), backend);
        }
        PruneReport withData = Run("magnitude-forward", layerError: true);
        PruneReport dataFree = Run("magnitude-data-free", layerError: false);
        // No activations were captured: the data-free path ran.
        Assert.True(withData.ActivationBytes > 0);
        Assert.Equal(0, dataFree.ActivationBytes);
        Assert.Equal(withData.PrunedParameters, dataFree.PrunedParameters);
        Assert.Equal(withData.Layers.Select(l => l.Layer), dataFree.Layers.Select(l => l.Layer));
        using var a = SafetensorsCheckpoint.Open(Path.Combine(_temp, "magnitude-forward"));
        using var b = SafetensorsCheckpoint.Open(Path.Combine(_temp, "magnitude-data-free"));
        foreach (TensorView t in a.Tensors)
        {
            Assert.True(t.Bytes.SequenceEqual(b[t.Name].Bytes), t.Name);
        }
    }

    [Theory]
    [InlineData(new int[0], "(none)")]
    [InlineData(new[] { 99 }, "99")]
    [InlineData(new[] { 0, 99 }, "0,99")]
    [InlineData(new[] { -1 }, "-1")]
    public void A_layer_set_outside_the_model_is_refused_before_any_work(int[] layers, string given)
    {
        string outDir = Path.Combine(_temp, "bad-layers");
        using var backend = new CpuBackend();
        var e = Assert.Throws<PruningOptionException>(() => PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse("0.5")) { Layers = new HashSet<int>(layers) }, Calibration()), backend));
        Assert.Equal(("layers", given), (e.Option, e.Value));
        Assert.Contains("within 0..4", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData("wanda")]
    [InlineData("sparsegpt")]
    public void A_method_that_weighs_by_the_inputs_refuses_to_prune_without_calibration_data(string method)
    {
        string outDir = Path.Combine(_temp, "no-data");
        using var backend = new CpuBackend();
        var e = Assert.Throws<PruningOptionException>(() => PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create(method),
            new PruneOptions(SparsityPattern.Parse("0.5")), CalibrationSet.None()), backend));
        Assert.Equal("calibration", e.Option);
        Assert.Contains(method, e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Only_the_selected_layers_are_pruned()
    {
        string outDir = Path.Combine(_temp, "layers-1-2");
        PruneReport report;
        using (var backend = new CpuBackend())
        {
            report = PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("wanda"),
                new PruneOptions(SparsityPattern.Parse("0.5")) { Layers = PruneOptions.ParseLayers("1-2", 5) }, Calibration()), backend);
        }
        // The totals cover the two pruned layers; the linear sparsity is the whole model's (stories260K has no zeros).
        const long LayerLinears = 45_312;
        Assert.Equal(2 * LayerLinears, report.PrunableParameters);
        Assert.Equal(0.5, report.TotalSparsity);
        Assert.Equal(5 * LayerLinears, report.LinearParameters);
        Assert.Equal(0.2, report.LinearSparsity, 12);
        using var pruned = SafetensorsCheckpoint.Open(outDir);
        using var dense = SafetensorsCheckpoint.Open(TestData.Stories260K);
        for (int layer = 0; layer < 5; layer++)
        {
            string name = LlamaTensorNames.Linear(layer, LinearId.UpProj);
            bool same = pruned[name].Bytes.SequenceEqual(dense[name].Bytes);
            Assert.Equal(layer is not (1 or 2), same);
        }
        Assert.Throws<PruningOptionException>(() => PruneOptions.ParseLayers("3-9", 5));
        Assert.Throws<PruningOptionException>(() => PruneOptions.ParseLayers("x", 5));
    }

    [Fact]
    public void Include_embeddings_prunes_the_tied_head_from_its_input_statistics()
    {
        string outDir = Path.Combine(_temp, "with-head");
        using (var backend = new CpuBackend())
        {
            PruneReport report = PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("wanda"),
                new PruneOptions(SparsityPattern.Parse("0.5")) { IncludeEmbeddings = true }, Calibration()), backend);
            Assert.Equal("model.embed_tokens.weight", report.Layers[^1].Linears.Single().Name);
        }
        using var pruned = SafetensorsCheckpoint.Open(outDir);
        TensorView head = pruned[LlamaTensorNames.Embedding]; // tied: the one matrix is the head
        var w = new float[head.ElementCount];
        FloatConvert.ToSingle(head, w);
        int[] zeros = new int[512];
        SparsityCheck.CountZerosPerRow(w, 512, 64, zeros);
        Assert.All(zeros, z => Assert.Equal(32, z));
    }

    [Fact]
    public void Include_embeddings_with_layers_takes_the_head_statistics_after_the_last_layer()
    {
        // --layers 0: layers 1-4 stay dense, but lm_head still reads the last layer's output. Its statistics must come
        // from there (through the dense layers after the last pruned one), not from layer 0's output.
        CalibrationSet calib = Calibration();
        string withHead = Path.Combine(_temp, "layer0-head"), layer0 = Path.Combine(_temp, "layer0");
        var pattern = SparsityPattern.Parse("0.5");
        using var backend = new CpuBackend();
        PruneJob.Run(new PruneRequest(TestData.Stories260K, withHead, PrunerFactory.Create("wanda"),
            new PruneOptions(pattern) { Layers = new HashSet<int> { 0 }, IncludeEmbeddings = true }, calib), backend);
        PruneJob.Run(new PruneRequest(TestData.Stories260K, layer0, PrunerFactory.Create("wanda"),
            new PruneOptions(pattern) { Layers = new HashSet<int> { 0 } }, calib), backend);

        // Expected: Wanda on the dense head with the statistics of the final RMSNorm of the last layer's outputs, run
        // through the model whose layer 0 is pruned (what the calibration windows flow through), computed here on the host.
        var stats = new InputStatistics(64, collectHessian: false);
        float[] norm, head;
        using (LlamaModel model = LlamaModel.Load(layer0, backend))
        using (RunState state = model.CreateState(64, 64))
        using (var dense = SafetensorsCheckpoint.Open(TestData.Stories260K))
        {
            norm = new float[64];
            FloatConvert.ToSingle(dense["model.norm.weight"], norm);
            head = new float[512 * 64];
            FloatConvert.ToSingle(dense[LlamaTensorNames.Embedding], head);
            var last = new LastLayerTap(backend, 4);
            foreach (int[] sample in calib.Samples)
            {
                model.Forward(state, sample, 0, LogitsMode.None, last);
                float[] x = last.Output!;
                for (int t = 0; t < 64; t++)
                {
                    Span<float> row = x.AsSpan(t * 64, 64);
                    double meanSquare = 0;
                    foreach (float v in row)
                    {
                        meanSquare += (double)v * v;
                    }
                    float inv = (float)(1 / Math.Sqrt((meanSquare / 64) + 1e-5));
                    for (int j = 0; j < 64; j++)
                    {
                        row[j] = row[j] * inv * norm[j];
                    }
                }
                stats.AddSequence(x, 64);
            }
        }
        new WandaPruner().Prune(head, 512, 64, stats, pattern);
        using var pruned = SafetensorsCheckpoint.Open(withHead);
        var actual = new float[512 * 64];
        FloatConvert.ToSingle(pruned[LlamaTensorNames.Embedding], actual);
        int differ = Enumerable.Range(0, head.Length).Count(i => (head[i] == 0) != (actual[i] == 0));
        Assert.Equal(0, differ);
    }

    private sealed class LastLayerTap(Copal.Tensors.Backends.IBackend backend, int layer) : IForwardTap
    {
        public float[]? Output { get; private set; }

        public void OnLayerOutput(int l, Copal.Tensors.Backends.DeviceBuffer hidden, int rows)
        {
            if (l == layer)
            {
                Output = new float[rows * 64];
                backend.Download(hidden, Output);
            }
        }
    }

    [Fact]
    public void Include_embeddings_prunes_an_untied_head_by_the_method_and_the_embedding_by_magnitude()
    {
        string model = Path.Combine(_temp, "untied"), outDir = Path.Combine(_temp, "untied-wanda");
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { TieWordEmbeddings = false, VocabSize = 512 };
        SyntheticModelWriter.Write(config, model, DType.F32, seed: 3, tokenizerDirectory: null);
        var calibration = CalibrationSet.FromTokens([("text", [.. Enumerable.Range(0, 129).Select(i => 1 + (i * 37 % 500))])], 4, 32, 0);
        PruneReport report;
        using (var backend = new CpuBackend())
        {
            report = PruneJob.Run(new PruneRequest(model, outDir, PrunerFactory.Create("wanda"),
                new PruneOptions(SparsityPattern.Parse("0.5")) { IncludeEmbeddings = true }, calibration), backend);
        }
        Assert.Equal([LlamaTensorNames.LmHead, LlamaTensorNames.Embedding], report.Layers[^1].Linears.Select(l => l.Name));
        using var dense = SafetensorsCheckpoint.Open(model);
        using var pruned = SafetensorsCheckpoint.Open(outDir);
        // The embedding: magnitude over the whole matrix, the same bytes as magnitude alone gives.
        var embedding = new float[512 * 64];
        FloatConvert.ToSingle(dense[LlamaTensorNames.Embedding], embedding);
        new MagnitudePruner().Prune(embedding, 512, 64, null, SparsityPattern.Parse("0.5"));
        var actual = new float[512 * 64];
        FloatConvert.ToSingle(pruned[LlamaTensorNames.Embedding], actual);
        Assert.Equal(embedding, actual);
        // The head: Wanda, exactly half of every row (magnitude's one threshold for the matrix gives uneven rows).
        FloatConvert.ToSingle(pruned[LlamaTensorNames.LmHead], actual);
        int[] zeros = new int[512];
        SparsityCheck.CountZerosPerRow(actual, 512, 64, zeros);
        Assert.All(zeros, z => Assert.Equal(32, z));
        FloatConvert.ToSingle(dense[LlamaTensorNames.LmHead], embedding);
        new MagnitudePruner().Prune(embedding, 512, 64, null, SparsityPattern.Parse("0.5"));
        Assert.NotEqual(embedding, actual);
    }

    [Theory]
    [InlineData("wanda")]
    [InlineData("magnitude")]
    public void Include_embeddings_prunes_a_tied_models_stored_head_copy_with_the_embedding(string method)
    {
        // Some exports store lm_head.weight beside tie_word_embeddings, as the embedding's copy. The model computes with
        // the embedding, which is pruned; the copy must not stay dense, or a tool that reads lm_head.weight (a GGUF
        // converter) gets another head than the one pruned and measured.
        string model = Path.Combine(_temp, "tied-copy"), outDir = Path.Combine(_temp, $"tied-copy-{method}");
        Directory.CreateDirectory(model);
        foreach (string f in Directory.GetFiles(TestData.Stories260K).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
        {
            File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        }
        using (var source = SafetensorsCheckpoint.Open(TestData.Stories260K))
        {
            TensorView embedding = source[LlamaTensorNames.Embedding];
            var specs = source.Tensors.Select(t => new TensorSpec(t.Name, t.DType, t.Shape))
                .Append(new TensorSpec(LlamaTensorNames.LmHead, embedding.DType, embedding.Shape)).ToList();
            using var writer = SafetensorsWriter.Create(Path.Combine(model, "model.safetensors"), specs);
            foreach (TensorView t in source.Tensors)
            {
                writer.Write(t.Name, t.Bytes);
            }
            writer.Write(LlamaTensorNames.LmHead, embedding.Bytes);
            writer.Commit();
        }
        using (var backend = new CpuBackend())
        {
            PruneJob.Run(new PruneRequest(model, outDir, PrunerFactory.Create(method),
                new PruneOptions(SparsityPattern.Parse("0.5")) { IncludeEmbeddings = true }, Calibration()), backend);
        }
        using var pruned = SafetensorsCheckpoint.Open(outDir);
        var w = new float[512 * 64];
        FloatConvert.ToSingle(pruned[LlamaTensorNames.Embedding], w);
        Assert.Equal(w.Length / 2, w.Count(v => v == 0));
        Assert.True(pruned[LlamaTensorNames.LmHead].Bytes.SequenceEqual(pruned[LlamaTensorNames.Embedding].Bytes), "the stored head copy is the pruned embedding");
    }

    [Fact]
    public void Magnitude_prunes_the_embeddings_from_their_weights_without_calibration_data()
    {
        // Magnitude needs no activations, lm_head's included: without data no window is run, and the head comes out
        // as a run with data prunes it.
        string without = Path.Combine(_temp, "head-no-data"), with = Path.Combine(_temp, "head-data");
        using (var backend = new CpuBackend())
        {
            PruneReport report = PruneJob.Run(new PruneRequest(TestData.Stories260K, without, PrunerFactory.Create("magnitude"),
                new PruneOptions(SparsityPattern.Parse("0.5")) { IncludeEmbeddings = true }, CalibrationSet.None()), backend);
            Assert.Equal(0, report.ActivationBytes);
            Assert.Null(report.Calibration);
            Assert.Equal(LlamaTensorNames.Embedding, report.Layers[^1].Linears.Single().Name);
            PruneJob.Run(new PruneRequest(TestData.Stories260K, with, PrunerFactory.Create("magnitude"),
                new PruneOptions(SparsityPattern.Parse("0.5")) { IncludeEmbeddings = true }, Calibration()), backend);
        }
        using var a = SafetensorsCheckpoint.Open(without);
        using var b = SafetensorsCheckpoint.Open(with);
        Assert.True(a[LlamaTensorNames.Embedding].Bytes.SequenceEqual(b[LlamaTensorNames.Embedding].Bytes));
        var w = new float[a[LlamaTensorNames.Embedding].ElementCount];
        FloatConvert.ToSingle(a[LlamaTensorNames.Embedding], w);
        Assert.Equal(w.Length / 2, w.Count(v => v == 0));
    }

    [Fact]
    public void Include_embeddings_is_refused_for_a_stateful_pruner()
    {
        var e = Assert.Throws<PruningOptionException>(() =>
        {
            using var backend = new CpuBackend();
            PruneJob.Run(new PruneRequest(TestData.Stories260K, Path.Combine(_temp, "copal-head"), new StatefulPruner(),
                new PruneOptions(SparsityPattern.Parse("0.5")) { IncludeEmbeddings = true }, Calibration()), backend);
        });
        Assert.Contains("include-embeddings", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void True_sequential_also_hits_the_target_and_differs_from_one_pass()
    {
        string seq = Prune("sparsegpt", SparsityPattern.Parse("0.5"), trueSequential: true);
        string onePass = Prune("sparsegpt", SparsityPattern.Parse("0.5"));
        using var a = SafetensorsCheckpoint.Open(seq);
        using var b = SafetensorsCheckpoint.Open(onePass);
        string down = LlamaTensorNames.Linear(1, LinearId.DownProj);
        Assert.False(a[down].Bytes.SequenceEqual(b[down].Bytes), "re-collected statistics should change later groups");
        string q0 = LlamaTensorNames.Linear(0, LinearId.QProj);
        Assert.True(a[q0].Bytes.SequenceEqual(b[q0].Bytes), "the first group sees the same statistics either way");
    }

    [Fact]
    public void Dense_upstream_feeds_each_layer_the_dense_outputs_before_it()
    {
        using var backend = new CpuBackend();
        string Run(string name, PruneOptions options)
        {
            string outDir = Path.Combine(_temp, name);
            PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("wanda"), options, Calibration()), backend);
            return outDir;
        }
        var pattern = SparsityPattern.Parse("0.5");
        string denseUpstream = Run("dense-upstream", new PruneOptions(pattern) { DenseUpstream = true });
        string reference = Run("pruned-upstream", new PruneOptions(pattern));
        // Pruning layer 1 alone: layer 0 stays dense, so layer 1 sees exactly the dense upstream.
        string onlyLayer1 = Run("only-layer-1", new PruneOptions(pattern) { Layers = new HashSet<int> { 1 } });
        using var a = SafetensorsCheckpoint.Open(denseUpstream);
        using var b = SafetensorsCheckpoint.Open(reference);
        using var c = SafetensorsCheckpoint.Open(onlyLayer1);
        string q1 = LlamaTensorNames.Linear(1, LinearId.QProj), q0 = LlamaTensorNames.Linear(0, LinearId.QProj);
        Assert.True(a[q1].Bytes.SequenceEqual(c[q1].Bytes), "layer 1 pruned on the dense upstream");
        Assert.False(a[q1].Bytes.SequenceEqual(b[q1].Bytes), "the default feeds layer 1 the pruned layer 0");
        Assert.True(a[q0].Bytes.SequenceEqual(b[q0].Bytes), "layer 0 has no upstream");
    }

    [Fact]
    public void Statistics_from_the_tap_equal_those_of_the_captured_inputs()
    {
        // Layer 0's q_proj input is RMSNorm(embedding): compute it on the host and compare with what the driver's tap folds.
        CalibrationSet calib = Calibration(nsamples: 3, seqLen: 32);
        using var backend = new CpuBackend();
        using LlamaModel model = LlamaModel.Load(TestData.Stories260K, backend);
        var expected = new InputStatistics(64, collectHessian: true);
        using RunState state = model.CreateState(32, 32);
        var capture = new CaptureTap();
        foreach (int[] sample in calib.Samples)
        {
            model.Forward(state, sample, 0, LogitsMode.None, capture);
            expected.AddSequence(capture.Input!, 32);
        }
        var tap = new StatisticsTap(backend, 0, new Dictionary<LinearId, int> { [LinearId.QProj] = 64 }, collectHessian: true);
        using (tap)
        {
            using var work = backend.Allocate(32 * 64);
            foreach (int[] sample in calib.Samples)
            {
                model.Embed(sample, work);
                model.ForwardLayer(state, 0, work, 32, 0, tap);
                tap.FoldSample();
            }
            InputStatistics actual = tap.Statistics[LinearId.QProj];
            Assert.Equal(3, actual.Sequences);
            for (int j = 0; j < 64; j++)
            {
                Assert.Equal(expected.ColumnMeanSquares[j], actual.ColumnMeanSquares[j], 1e-4 * (1 + expected.ColumnMeanSquares[j]));
            }
            double[] he = expected.Hessian, ha = actual.Hessian;
            for (int i = 0; i < he.Length; i++)
            {
                Assert.Equal(he[i], ha[i], 1e-4 * (1 + Math.Abs(he[i])));
            }
        }
    }

    [Fact]
    public void Cancellation_leaves_no_output()
    {
        string outDir = Path.Combine(_temp, "cancelled");
        using var backend = new CpuBackend();
        using var cts = new CancellationTokenSource();
        var progress = new CallbackProgress<PruneProgress>(p => { if (p.Layer == 2) { cts.Cancel(); } });
        Assert.ThrowsAny<OperationCanceledException>(() => PruneJob.Run(new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("wanda"),
            new PruneOptions(SparsityPattern.Parse("0.5")), Calibration()), backend, progress, cts.Token));
        Assert.False(Directory.Exists(outDir));
        Assert.Empty(Directory.GetDirectories(_temp));
    }

    private sealed class CaptureTap : IForwardTap
    {
        public float[]? Input { get; private set; }

        public void OnLinearInput(int layer, LinearId linear, Copal.Tensors.Backends.DeviceBuffer input, int rows)
        {
            if (layer == 0 && linear == LinearId.QProj)
            {
                Input = ((CpuBuffer)input).Span[..(rows * 64)].ToArray();
            }
        }
    }

    /// <summary>Stands for COPAL: a pruner that keeps state per decoder linear, so it has none for the head.</summary>
    private sealed class StatefulPruner : ILinearPruner
    {
        public string Name => "stateful";
        public bool NeedsHessian => false;

        public LinearPruneResult Prune(LinearTarget target, Span<float> weight, InputStatistics statistics, SparsityPattern pattern, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("not reached: the option is refused first");
    }

    [Fact]
    public void Progress_goes_through_every_layer_in_order_and_ends_at_the_total()
    {
        var seen = new List<PruneProgress>();
        using var backend = new CpuBackend();
        PruneJob.Run(new PruneRequest(TestData.Stories260K, Path.Combine(_temp, "progress"), PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse("0.5")) { MeasureLayerError = false }, CalibrationSet.None()), backend, new CallbackProgress<PruneProgress>(seen.Add));
        // Before the layers: the load, said without a layer (-1).
        Assert.Equal(new PruneProgress(-1, 5, "loading the model"), seen[0]);
        Assert.Equal("loading the model", seen[0].Describe());
        Assert.Equal([-1, 0, 1, 2, 3, 4, 5], seen.Select(p => p.Layer).Distinct());
        Assert.True(seen.Zip(seen.Skip(1)).All(pair => pair.First.Layer <= pair.Second.Layer), "progress went back");
        Assert.Equal(new PruneProgress(5, 5, "writing the pruned model"), seen[^1]);
    }

    public void Dispose() => Directory.Delete(_temp, recursive: true);
}
