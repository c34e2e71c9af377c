using Copal.Model.Generation;
using Copal.Model.Inference;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Continual.Protocol;
using Copal.Prune.Driver;
using Copal.Tensors.Backends;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Backends.Ilgpu;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Prune.Tests;

/// <summary>
/// A pruned model runs the same through the sparse kernels as dense: stories260K pruned by magnitude, compacted,
/// loaded compact (sparse kernels) and dense; logits within the end-to-end tolerance, greedy text identical; and
/// densify restores the pruned weights byte for byte.
/// </summary>
public sealed class SparseExecutionTests : IDisposable
{
    // Made here, not by the first output: a run that fails removes the folders it made above its output.
    private readonly TempDir _root = new("copal-sparse-");

    public void Dispose()
    {
        if (Directory.Exists(_root.Path))
        {
            _root.Dispose();
        }
    }

    private string Prune(string pattern)
    {
        string outDir = _root.File("pruned");
        var calibration = CalibrationSet.FromTokens([("ones", Enumerable.Repeat(1, 17).ToArray())], 1, 16, 0);
        var request = new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse(pattern)) { MeasureLayerError = false }, calibration);
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(request, backend);
        return outDir;
    }

    /// <summary>Without calibration data (magnitude needs none) the report has no calibration and measures no layer error.</summary>
    [Fact]
    public void Pruning_without_calibration_data_reports_none_and_measures_no_layer_error()
    {
        var request = new PruneRequest(TestData.Stories260K, _root.File("none"), PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse("0.5")), CalibrationSet.None()); // MeasureLayerError left at its default, true
        using var backend = new CpuBackend(threads: 1);
        PruneReport report = PruneJob.Run(request, backend);
        Assert.Null(report.Calibration);
        Assert.All(report.Layers, l => Assert.Null(l.OutputRelativeError));
        Assert.Equal(0.5, report.TotalSparsity, 3);
    }

    [Fact]
    public void Pruning_a_compact_checkpoint_is_refused_naming_densify_and_writes_nothing()
    {
        string compact = _root.File("compact");
        CheckpointCompactor.Compact(Prune("0.5"), compact, CompactFormat.Auto, overwrite: false);
        string again = _root.File("again");
        var request = new PruneRequest(compact, again, PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse("0.7")) { MeasureLayerError = false },
            CalibrationSet.FromTokens([("ones", Enumerable.Repeat(1, 17).ToArray())], 1, 16, 0));
        using var backend = new CpuBackend(threads: 1);
        var e = Assert.Throws<ModelLoadException>(() => PruneJob.Run(request, backend));
        Assert.Contains("compact sparse checkpoint", e.Message);
        Assert.Contains($"copal densify -m {compact} -o DIR", e.Message);
        Assert.False(Directory.Exists(again));
    }

    [Fact]
    public void A_continual_run_on_a_compact_checkpoint_is_refused_before_the_dense_evaluation()
    {
        string compact = _root.File("compact-continual");
        CheckpointCompactor.Compact(Prune("0.5"), compact, CompactFormat.Auto, overwrite: false);
        string text = TestData.Path("text", "tinystories", "eval.txt");
        var request = new ContinualRequest(compact, ContinualDataset.ParseList($"tiny={text}"), ["magnitude"], SparsityPattern.Parse("0.5"), 1, 16, 16, [0UL],
            new Copal.Prune.Continual.CopalOptions()) { EvalLimitChunks = 1 };
        var stages = new List<string>();
        using var backend = new CpuBackend(threads: 1);
        var e = Assert.Throws<ModelLoadException>(() => ContinualRunner.Run(request, backend, new CallbackProgress<ContinualProgress>(p => stages.Add(p.Stage))));
        Assert.Contains($"copal densify -m {compact} -o DIR", e.Message);
        Assert.Empty(stages); // nothing was evaluated or tokenized
    }

    [Theory]
    [InlineData("2:4", SparseFormat.NM)]
    [InlineData("0.5", SparseFormat.Bitmask)]
    [InlineData("0.7", SparseFormat.Bitmask)]
    public void Compact_model_on_sparse_kernels_matches_dense_execution(string pattern, SparseFormat format)
    {
        string pruned = Prune(pattern);
        string compact = _root.File("compact");
        CompactReport report = CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);
        Assert.True(report.OutputBytes < report.InputBytes, $"compact file {report.OutputBytes} B is not smaller than {report.InputBytes} B");

        using var sparseBackend = new CpuBackend(threads: 2);
        using var denseBackend = new CpuBackend(threads: 2);
        using LlamaModel sparse = LlamaModel.Load(compact, sparseBackend, SparseLoadMode.Auto);
        using LlamaModel dense = LlamaModel.Load(pruned, denseBackend, SparseLoadMode.Off);
        var q = Assert.IsType<CpuSparseWeight>(sparse.Weights.Layers[0][LinearId.QProj]);
        Assert.Equal(format, q.Matrix.Format);

        int[] tokens = [1, 403, 407, 261, 378, 1122, 29892, 263, 2217, 7826];
        tokens = tokens.Select(t => t % sparse.Config.VocabSize).ToArray();
        // Decode path (one token at a time) and prefill path (all rows at once) both compared.
        using RunState s1 = sparse.CreateState(maxRows: tokens.Length, allRowLogits: true);
        using RunState d1 = dense.CreateState(maxRows: tokens.Length, allRowLogits: true);
        sparse.Forward(s1, tokens, 0, LogitsMode.All);
        dense.Forward(d1, tokens, 0, LogitsMode.All);
        Tolerances.AssertClose(sparse.ReadLogits(s1, tokens.Length), dense.ReadLogits(d1, tokens.Length), 0, Tolerances.LogitsAbsolute, "prefill logits");
        using RunState s2 = sparse.CreateState(maxRows: 1);
        using RunState d2 = dense.CreateState(maxRows: 1);
        for (int i = 0; i < tokens.Length; i++)
        {
            sparse.Forward(s2, tokens.AsSpan(i, 1), i, LogitsMode.Last);
            dense.Forward(d2, tokens.AsSpan(i, 1), i, LogitsMode.Last);
            Tolerances.AssertClose(sparse.ReadLogits(s2), dense.ReadLogits(d2), 0, Tolerances.LogitsAbsolute, $"decode logits at {i}");
        }

        var a = new Generator(sparse).Generate([1], 40, SamplingOptions.Greedy, new HashSet<int>());
        var b = new Generator(dense).Generate([1], 40, SamplingOptions.Greedy, new HashSet<int>());
        Assert.Equal(b.GeneratedIds, a.GeneratedIds);
    }

    [DeviceFact("ilgpu-cpu")]
    public void Ilgpu_cpu_runs_a_compact_model_on_its_sparse_kernels_like_the_cpu() => DeviceMatchesCpu("ilgpu-cpu");

    [DeviceFact("opencl")]
    public void OpenCL_runs_a_compact_model_on_its_sparse_kernels_like_the_cpu() => DeviceMatchesCpu("opencl");

    [DeviceFact("cuda")]
    public void Cuda_runs_a_compact_model_on_its_sparse_kernels_like_the_cpu() => DeviceMatchesCpu("cuda");

    /// <summary>2:4 and 70% bitmask checkpoints, loaded compact on the device: the same greedy text and logits as the CPU's sparse run.</summary>
    private void DeviceMatchesCpu(string kind)
    {
        foreach (string pattern in (string[])["2:4", "0.7"])
        {
            string pruned = Prune(pattern);
            string compact = _root.File("compact");
            CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);
            using IBackend device = BackendFactory.Create(DeviceFactAttribute.SpecFor(kind, out _)!);
            using var cpu = new CpuBackend(threads: 2);
            using LlamaModel onDevice = LlamaModel.Load(compact, device, SparseLoadMode.Auto);
            using LlamaModel onCpu = LlamaModel.Load(compact, cpu, SparseLoadMode.Auto);
            Assert.IsType<IlgpuSparseWeight>(onDevice.Weights.Layers[0][LinearId.QProj]);

            int[] tokens = [1, 403, 407, 261, 378, 1122, 29892, 263, 2217, 7826];
            tokens = tokens.Select(t => t % onCpu.Config.VocabSize).ToArray();
            using RunState d = onDevice.CreateState(maxRows: tokens.Length, allRowLogits: true);
            using RunState c = onCpu.CreateState(maxRows: tokens.Length, allRowLogits: true);
            onDevice.Forward(d, tokens, 0, LogitsMode.All);
            onCpu.Forward(c, tokens, 0, LogitsMode.All);
            Tolerances.AssertClose(onDevice.ReadLogits(d, tokens.Length), onCpu.ReadLogits(c, tokens.Length), 0, Tolerances.LogitsAbsolute, $"{kind} {pattern} prefill logits");
            var a = new Generator(onDevice).Generate([1], 40, SamplingOptions.Greedy, new HashSet<int>());
            var b = new Generator(onCpu).Generate([1], 40, SamplingOptions.Greedy, new HashSet<int>());
            Assert.Equal(b.GeneratedIds, a.GeneratedIds);
            Directory.Delete(pruned, recursive: true);
            Directory.Delete(compact, recursive: true);
        }
    }

    [Fact]
    public void Densify_restores_the_pruned_weights_byte_for_byte_and_dense_checkpoints_convert_at_load()
    {
        string pruned = Prune("2:4");
        string compact = _root.File("compact");
        string back = _root.File("dense");
        Assert.Equal(0, CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false).NegativeZeros);
        CheckpointCompactor.Densify(compact, back, overwrite: false);
        // Densify reads no more of a config than the layout to write in: weights alone densify too.
        string bare = _root.File("bare"), bareBack = _root.File("bare-dense");
        Directory.CreateDirectory(bare);
        File.Copy(Path.Combine(compact, SafetensorsCheckpoint.SingleFileName), Path.Combine(bare, SafetensorsCheckpoint.SingleFileName));
        CheckpointCompactor.Densify(bare, bareBack, overwrite: false);
        Assert.Equal(File.ReadAllBytes(Path.Combine(back, SafetensorsCheckpoint.SingleFileName)), File.ReadAllBytes(Path.Combine(bareBack, SafetensorsCheckpoint.SingleFileName)));
        using (var a = SafetensorsCheckpoint.Open(pruned))
        using (var b = SafetensorsCheckpoint.Open(back))
        {
            Assert.Equal(a.Tensors.Select(t => t.Name).Order(), b.Tensors.Select(t => t.Name).Order());
            foreach (var t in a.Tensors)
            {
                Assert.True(b.TryGet(t.Name, out var u));
                Assert.Equal(t.DType, u.DType);
                Assert.Equal(t.Shape, u.Shape);
                Assert.True(Bytes(t).SequenceEqual(Bytes(u)), $"tensor '{t.Name}' differs after compact + densify");
            }
        }
        // Auto converts a dense 2:4 checkpoint at load where 2:4 was measured faster than dense (the AVX-512 path),
        // Force everywhere; Off leaves every weight dense.
        using var backend = new CpuBackend(threads: 1);
        using (LlamaModel auto = LlamaModel.Load(pruned, backend, SparseLoadMode.Auto))
        {
            Assert.Equal(SparsityAdvisor.CurrentPath == SparseGemvPath.Avx512, auto.Weights.Layers[0][LinearId.QProj] is CpuSparseWeight);
        }
        using (LlamaModel force = LlamaModel.Load(pruned, backend, SparseLoadMode.Force))
        {
            Assert.IsType<CpuSparseWeight>(force.Weights.Layers[0][LinearId.QProj]);
        }
        using LlamaModel off = LlamaModel.Load(compact, backend, SparseLoadMode.Off);
        Assert.IsNotType<CpuSparseWeight>(off.Weights.Layers[0][LinearId.QProj]);
    }

    /// <summary>
    /// Every file beside the weights travels through compact and densify as it is, a COPAL state's tensors too (a
    /// safetensors file, once left behind, so the copy held half a state that --resume refused).
    /// </summary>
    [Fact]
    public void Compact_and_densify_carry_every_side_file_a_state_s_tensors_included()
    {
        string pruned = Prune("2:4");
        byte[] state = [1, 2, 3, 4, 5];
        File.WriteAllBytes(Path.Combine(pruned, CopalState.TensorsFileName), state);
        File.WriteAllText(Path.Combine(pruned, CopalState.ManifestFileName), "{}");
        string compact = _root.File("compact"), back = _root.File("dense");
        CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);
        CheckpointCompactor.Densify(compact, back, overwrite: false);
        string[] sideFiles = [.. Directory.GetFiles(pruned).Select(Path.GetFileName).Where(n => n != SafetensorsCheckpoint.SingleFileName).Order(StringComparer.Ordinal)!];
        Assert.Contains(CopalState.TensorsFileName, sideFiles);
        foreach (string folder in (string[])[compact, back])
        {
            Assert.Equal(sideFiles.Append(SafetensorsCheckpoint.SingleFileName).Order(StringComparer.Ordinal), Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.Equal(state, File.ReadAllBytes(Path.Combine(folder, CopalState.TensorsFileName)));
        }
    }

    /// <summary>
    /// Compaction tells both its passes and densification its one, each from 0 to every tensor's dense bytes, never
    /// going back; a cancellation asked for from a report in the last stage leaves no output.
    /// </summary>
    [Fact]
    public void Compact_and_densify_report_each_stage_through_every_dense_byte_and_stop_when_cancelled()
    {
        string pruned = Prune("2:4");
        long denseBytes;
        using (var source = SafetensorsCheckpoint.Open(pruned))
        {
            denseBytes = source.Tensors.Sum(t => t.ByteLength);
        }
        string compact = _root.File("compact"), back = _root.File("dense");
        var compacting = new List<CompactProgress>();
        CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false, new CallbackProgress<CompactProgress>(compacting.Add));
        var densifying = new List<CompactProgress>();
        CheckpointCompactor.Densify(compact, back, overwrite: false, new CallbackProgress<CompactProgress>(densifying.Add));
        AssertStages(compacting, ["measuring each linear's format", "writing"]);
        AssertStages(densifying, ["writing"]);

        void AssertStages(List<CompactProgress> reports, string[] stages)
        {
            Assert.Equal(stages, reports.Select(r => r.Stage).Distinct());
            foreach (string stage in stages)
            {
                CompactProgress[] of = [.. reports.Where(r => r.Stage == stage)];
                Assert.All(of, r => Assert.Equal(denseBytes, r.BytesTotal));
                Assert.Equal(0, of[0].BytesDone);
                Assert.Equal(denseBytes, of[^1].BytesDone);
                Assert.True(of.Zip(of.Skip(1)).All(pair => pair.First.BytesDone <= pair.Second.BytesDone), $"{stage}: progress went back");
                Assert.True(of.Length > 3, $"{stage}: {of.Length} reports, expected one a tensor");
            }
        }

        using var cts = new CancellationTokenSource();
        string cancelled = _root.File("cancelled");
        var halfway = new CallbackProgress<CompactProgress>(r =>
        {
            if (r.Stage == "writing" && r.BytesDone > r.BytesTotal / 2)
            {
                cts.Cancel();
            }
        });
        Assert.Throws<OperationCanceledException>(() => CheckpointCompactor.Densify(compact, cancelled, overwrite: false, halfway, cts.Token));
        Assert.False(Directory.Exists(cancelled));
    }

    /// <summary>An output folder that may not be written is told before compaction's first pass over the model, not after it.</summary>
    [Fact]
    public void Compact_refuses_an_output_it_may_not_replace_before_any_pass()
    {
        string pruned = Prune("2:4");
        string taken = _root.File("taken");
        Directory.CreateDirectory(taken);
        File.WriteAllText(Path.Combine(taken, "notes.txt"), "mine");
        var reports = new List<CompactProgress>();
        var e = Assert.Throws<IOException>(() => CheckpointCompactor.Compact(pruned, taken, CompactFormat.Auto, overwrite: false, new CallbackProgress<CompactProgress>(reports.Add)));
        Assert.Contains("exists and is not empty", e.Message, StringComparison.Ordinal);
        Assert.Empty(reports);
        Assert.Equal(["notes.txt"], Directory.GetFileSystemEntries(taken).Select(Path.GetFileName));
    }

    /// <summary>
    /// A compact checkpoint split into shards, each shard keeping the file's whole metadata (as a tool that shards a
    /// checkpoint copies it), densifies as the single file does: each compact weight's entry was gathered from every
    /// shard that holds it, and two shards' copies of one entry failed as a duplicate key, naming no file.
    /// </summary>
    [Fact]
    public void Densify_reads_a_sharded_compact_checkpoint_whose_shards_each_keep_the_metadata()
    {
        string compact = _root.File("compact"), back = _root.File("dense");
        CheckpointCompactor.Compact(Prune("2:4"), compact, CompactFormat.Auto, overwrite: false);
        CheckpointCompactor.Densify(compact, back, overwrite: false);

        string sharded = _root.File("sharded"), shardedBack = _root.File("sharded-dense");
        Directory.CreateDirectory(sharded);
        foreach (string side in Directory.GetFiles(compact).Where(f => Path.GetFileName(f) != SafetensorsCheckpoint.SingleFileName))
        {
            File.Copy(side, Path.Combine(sharded, Path.GetFileName(side)));
        }
        const string Shard1 = "model-00001-of-00002.safetensors", Shard2 = "model-00002-of-00002.safetensors";
        using (SafetensorsFile whole = SafetensorsFile.Open(Path.Combine(compact, SafetensorsCheckpoint.SingleFileName)))
        {
            int half = whole.Tensors.Count / 2;
            SafetensorsSaver.Save(Path.Combine(sharded, Shard1), whole.Tensors.Take(half), whole.Metadata);
            SafetensorsSaver.Save(Path.Combine(sharded, Shard2), whole.Tensors.Skip(half), whole.Metadata);
            string map = string.Join(",", whole.Tensors.Select((t, i) => $"\"{t.Name}\": \"{(i < half ? Shard1 : Shard2)}\""));
            File.WriteAllText(Path.Combine(sharded, SafetensorsCheckpoint.IndexFileName), $"{{\"weight_map\": {{{map}}}}}");
        }

        CheckpointCompactor.Densify(sharded, shardedBack, overwrite: false);
        Assert.Equal(File.ReadAllBytes(Path.Combine(back, SafetensorsCheckpoint.SingleFileName)),
            File.ReadAllBytes(Path.Combine(shardedBack, SafetensorsCheckpoint.SingleFileName)));
    }

    /// <summary>
    /// Two shards that describe one compact weight differently: the later shard's description was taken, and a weight
    /// whose parts it no longer matched was read by the wrong layout. Now refused at open, naming both files.
    /// </summary>
    [Fact]
    public void Shards_that_describe_a_compact_weight_differently_are_refused_naming_both()
    {
        string compact = _root.File("compact");
        CheckpointCompactor.Compact(Prune("2:4"), compact, CompactFormat.Auto, overwrite: false);
        string sharded = _root.File("sharded");
        Directory.CreateDirectory(sharded);
        foreach (string side in Directory.GetFiles(compact).Where(f => Path.GetFileName(f) != SafetensorsCheckpoint.SingleFileName))
        {
            File.Copy(side, Path.Combine(sharded, Path.GetFileName(side)));
        }
        const string Shard1 = "model-00001-of-00002.safetensors", Shard2 = "model-00002-of-00002.safetensors";
        string key, was, edited;
        using (SafetensorsFile whole = SafetensorsFile.Open(Path.Combine(compact, SafetensorsCheckpoint.SingleFileName)))
        {
            int half = whole.Tensors.Count / 2;
            key = whole.Metadata.Keys.First(k => k.StartsWith(SparseTensorCodec.MetadataPrefix, StringComparison.Ordinal));
            was = whole.Metadata[key];
            edited = was.Replace("n=2;m=4", "n=1;m=2", StringComparison.Ordinal);
            var second = whole.Metadata.ToDictionary(StringComparer.Ordinal);
            second[key] = edited;
            SafetensorsSaver.Save(Path.Combine(sharded, Shard1), whole.Tensors.Take(half), whole.Metadata);
            SafetensorsSaver.Save(Path.Combine(sharded, Shard2), whole.Tensors.Skip(half), second);
            string map = string.Join(",", whole.Tensors.Select((t, i) => $"\"{t.Name}\": \"{(i < half ? Shard1 : Shard2)}\""));
            File.WriteAllText(Path.Combine(sharded, SafetensorsCheckpoint.IndexFileName), $"{{\"weight_map\": {{{map}}}}}");
        }
        Assert.NotEqual(was, edited);
        var e = Assert.Throws<SafetensorsException>(() => CheckpointCompactor.Densify(sharded, _root.File("back"), overwrite: false));
        Assert.Equal($"{Path.Combine(sharded, Shard2)}: metadata entry '{key}' is '{edited}' here, but '{Path.Combine(sharded, Shard1)}' holds '{was}'; "
            + "expected every shard that describes a compact weight to describe it alike", e.Message);
        Assert.False(Directory.Exists(_root.File("back")));
    }

    /// <summary>
    /// Only the decoder layers' linears load compact: a norm (or embedding) stored compact by another tool is named as
    /// such, not said to be missing from a checkpoint that plainly holds its parts.
    /// </summary>
    [Fact]
    public void A_weight_stored_compact_that_loads_only_dense_is_named_as_compact_not_missing()
    {
        const string Norm = "model.norm.weight";
        string model = TestData.CopyOfStories260K(_root.File("compact-norm"));
        string weights = Path.Combine(model, SafetensorsCheckpoint.SingleFileName);
        using (SafetensorsFile original = SafetensorsFile.Open(TestData.Path("models", "stories260K", SafetensorsCheckpoint.SingleFileName)))
        {
            var kept = original.Tensors.Where(t => t.Name != Norm).ToList();
            TensorSpec[] parts = [new(Norm + SparseTensorCodec.NMValuesSuffix, Copal.Tensors.DType.F32, [1, 32]), new(Norm + SparseTensorCodec.NMIndexSuffix, Copal.Tensors.DType.U8, [1, 6])];
            var metadata = new Dictionary<string, string>(original.Metadata) { [SparseTensorCodec.MetadataPrefix + Norm] = "format=nm;n=2;m=4;index=rank;rows=1;cols=64;dtype=F32" };
            using var writer = SafetensorsWriter.Create(weights + ".new", [.. kept.Select(t => TensorSpec.Of(t)), .. parts], metadata);
            foreach (var t in kept)
            {
                writer.Write(t.Name, t);
            }
            writer.Write(parts[0].Name, new byte[32 * 4]);
            writer.Write(parts[1].Name, new byte[6]);
            writer.Commit();
        }
        File.Move(weights + ".new", weights, overwrite: true);

        using var backend = new CpuBackend(threads: 1);
        var e = Assert.Throws<ModelLoadException>(() => LlamaModel.Load(model, backend, SparseLoadMode.Auto));
        Assert.Equal($"{model}: tensor '{Norm}' is stored compact (metadata entry '{SparseTensorCodec.MetadataPrefix}{Norm}'), but only the decoder layers' linears load compact; expected it dense", e.Message);
    }

    /// <summary>A part left without its metadata entry would be copied as a dense tensor of that name, leaving a model without the weight.</summary>
    [Fact]
    public void Densify_refuses_a_sparse_part_whose_metadata_entry_is_gone()
    {
        string compact = _root.File("compact");
        CheckpointCompactor.Compact(Prune("2:4"), compact, CompactFormat.Auto, overwrite: false);
        const string Weight = "model.layers.0.self_attn.q_proj.weight";
        CheckpointBytes.EditHeader(compact, header => Assert.True(header["__metadata__"]!.AsObject().Remove(SparseTensorCodec.MetadataPrefix + Weight)));
        string back = _root.File("dense");
        var e = Assert.Throws<ModelLoadException>(() => CheckpointCompactor.Densify(compact, back, overwrite: false));
        Assert.Contains($"is a stored part of the sparse weight '{Weight}', but the metadata has no entry '{SparseTensorCodec.MetadataPrefix}{Weight}'", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(back));
    }

    [Fact]
    public void An_undefined_compact_format_is_refused_naming_it()
    {
        string compact = _root.File("compact");
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CheckpointCompactor.Compact(Prune("2:4"), compact, (CompactFormat)99, overwrite: false));
        Assert.Equal("format", e.ParamName);
        Assert.False(Directory.Exists(compact));
    }

    /// <summary>A cancellation asked for while the pruned model is being written still leaves no output.</summary>
    [Fact]
    public void A_cancellation_at_the_writing_stage_leaves_no_output()
    {
        string outDir = _root.File("cancelled");
        var calibration = CalibrationSet.FromTokens([("ones", Enumerable.Repeat(1, 17).ToArray())], 1, 16, 0);
        var request = new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse("0.5")) { MeasureLayerError = false }, calibration);
        using var backend = new CpuBackend(threads: 1);
        using var cancel = new CancellationTokenSource();
        var progress = new CallbackProgress<PruneProgress>(p =>
        {
            if (p.Stage.StartsWith("writing", StringComparison.Ordinal))
            {
                cancel.Cancel();
            }
        });
        Assert.ThrowsAny<OperationCanceledException>(() => PruneJob.Run(request, backend, progress, cancel.Token));
        Assert.False(Directory.Exists(outDir));
        Assert.Empty(Directory.GetFileSystemEntries(_root.Path));
    }

    /// <summary>
    /// What runs just before the output is renamed into place (the CLI's compaction and --state copy) sees every
    /// file in the staged folder, and its failure leaves no output; what it writes there lands with the output.
    /// </summary>
    [Fact]
    public void Before_commit_sees_the_whole_output_and_its_failure_leaves_none()
    {
        var calibration = CalibrationSet.FromTokens([("ones", Enumerable.Repeat(1, 17).ToArray())], 1, 16, 0);
        using var backend = new CpuBackend(threads: 1);
        PruneRequest Request(string name, Action<string, CancellationToken> beforeCommit) =>
            new(TestData.Stories260K, _root.File(name), PrunerFactory.Create("magnitude"),
                new PruneOptions(SparsityPattern.Parse("0.5")) { MeasureLayerError = false }, calibration) { BeforeCommit = beforeCommit };

        IOException e = Assert.Throws<IOException>(() => PruneJob.Run(Request("failed", (staged, _) =>
        {
            Assert.True(File.Exists(Path.Combine(staged, PruneJob.ReportFileName)));
            Assert.True(File.Exists(Path.Combine(staged, SafetensorsCheckpoint.SingleFileName)));
            throw new IOException("no space left on device");
        }), backend));
        Assert.Equal("no space left on device", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(_root.Path));

        PruneJob.Run(Request("done", (staged, _) => File.WriteAllText(Path.Combine(staged, "note.txt"), "landed")), backend);
        Assert.Equal("landed", File.ReadAllText(Path.Combine(_root.Path, "done", "note.txt")));
    }

    [Fact]
    public void Format_nm_refuses_an_unstructured_model_before_writing_anything()
    {
        string pruned = Prune("0.5");
        string compact = _root.File("compact");
        var e = Assert.Throws<CompactFormatException>(() => CheckpointCompactor.Compact(pruned, compact, CompactFormat.NM, overwrite: false));
        // The message says where 2:4 breaks first, as a scan of the weight in row-major order finds it.
        const string Weight = "model.layers.0.self_attn.q_proj.weight";
        using (var checkpoint = SafetensorsCheckpoint.Open(pruned))
        {
            Copal.Tensors.TensorView q = checkpoint[Weight];
            ReadOnlySpan<float> w = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(Bytes(q));
            int cols = (int)q.Shape[1], at = 0;
            for (; ; at += 4)
            {
                int nonzeros = 0;
                foreach (float x in w.Slice(at, 4))
                {
                    nonzeros += x != 0 ? 1 : 0;
                }
                if (nonzeros > 2)
                {
                    Assert.Contains($"--format nm: '{Weight}' is 50.0 % zeros but not 2:4 (row {at / cols}, group {at % cols / 4} (columns {at % cols}..{at % cols + 3}) has {nonzeros} nonzeros; 2:4 allows at most 2)",
                        e.Message, StringComparison.Ordinal);
                    break;
                }
            }
        }
        Assert.False(Directory.Exists(compact));
        Assert.Equal(["pruned"], Directory.GetFileSystemEntries(_root.Path).Select(Path.GetFileName));
    }

    /// <summary>Layers a 2:4 run left dense (--layers) stay dense under nm; only pruned linears must be 2:4.</summary>
    [Fact]
    public void Format_nm_keeps_unpruned_layers_dense()
    {
        string outDir = _root.File("two-layers");
        var request = new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("magnitude"),
            new PruneOptions(SparsityPattern.Parse("2:4")) { MeasureLayerError = false, Layers = new HashSet<int> { 0, 1 } },
            CalibrationSet.FromTokens([("ones", Enumerable.Repeat(1, 17).ToArray())], 1, 16, 0));
        using (var backend = new CpuBackend(threads: 1))
        {
            PruneJob.Run(request, backend);
        }
        // A stray exact zero in a layer left dense does not make it a sparse linear that must be 2:4.
        CheckpointBytes.EditF32Tensor(outDir, "model.layers.3.self_attn.q_proj.weight", (data, start) => BitConverter.GetBytes(0f).CopyTo(data, start));
        CompactReport report = CheckpointCompactor.Compact(outDir, _root.File("nm"), CompactFormat.NM, overwrite: false);
        Assert.Equal(2 * 7, report.SparseLinears);
    }

    /// <summary>
    /// A mask multiplied into negative weights leaves −0 where they were removed. The compact formats keep only the
    /// kept weights, so those come back as +0: compaction counts them, and every other byte comes back exactly.
    /// </summary>
    [Fact]
    public void Compaction_counts_removed_negative_zeros_which_densify_gives_back_as_positive_zeros()
    {
        string pruned = Prune("0.5");
        var flipped = new List<long>();
        byte[] bytes = CheckpointBytes.EditF32Tensor(pruned, "model.layers.0.mlp.gate_proj.weight", (data, start) =>
        {
            for (long at = start; flipped.Count < 3; at += 4)
            {
                if (BitConverter.ToUInt32(data, (int)at) == 0)
                {
                    data[at + 3] = 0x80; // −0
                    flipped.Add(at);
                }
            }
        });

        string compact = _root.File("compact"), back = _root.File("dense");
        Assert.Equal(3, CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false).NegativeZeros);
        CheckpointCompactor.Densify(compact, back, overwrite: false);
        byte[] restored = File.ReadAllBytes(Path.Combine(back, "model.safetensors"));
        Assert.Equal(bytes.Length, restored.Length);
        long[] differing = [.. Enumerable.Range(0, bytes.Length).Where(i => bytes[i] != restored[i]).Select(i => (long)i)];
        Assert.Equal(flipped.Select(at => at + 3), differing);
        Assert.All(flipped, at => Assert.Equal(0u, BitConverter.ToUInt32(restored, (int)at)));
    }

    private static unsafe ReadOnlySpan<byte> Bytes(Copal.Tensors.TensorView t) => new(t.Data, checked((int)t.ByteLength));
}
