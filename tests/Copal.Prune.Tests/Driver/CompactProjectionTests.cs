using Copal.Model.Config;
using Copal.Model.Synthetic;
using Copal.Model.Weights;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Tensors.Safetensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// <c>prune --compact</c>'s free-space check counts the compact copy as <see cref="CompactProjection"/> projects it
/// before the pruning: never less than the compactor then writes (a run it lets start must not fill the disk at its
/// end), and for 2:4 and 1:2 exactly that. Each case prunes stories260K (F32) and compacts it.
/// </summary>
public sealed class CompactProjectionTests : IDisposable
{
    private readonly TempDir _root = new("copal-projection-");

    public void Dispose() => _root.Dispose();

    [Theory]
    [InlineData("magnitude", "2:4", null)]
    [InlineData("magnitude", "1:2", null)]
    [InlineData("magnitude", "1:4", null)]
    [InlineData("magnitude", "3:4", null)]
    [InlineData("magnitude", "0.5", null)]
    [InlineData("magnitude", "0.7", null)]
    [InlineData("magnitude", "0.2", null)]
    [InlineData("wanda", "0.6", null)]
    [InlineData("wanda", "3:4", null)]
    [InlineData("wanda", "2:4", "1,3")]
    [InlineData("magnitude", "0.5", "0")]
    public void The_projection_bounds_what_compacting_the_pruned_model_writes(string method, string pattern, string? layers)
    {
        LlamaConfig config = LlamaConfig.Load(TestData.Stories260K);
        SparsityPattern target = SparsityPattern.Parse(pattern);
        IReadOnlySet<int>? selected = layers is null ? null : PruneOptions.ParseLayers(layers, config.NumLayers);
        string pruned = _root.File("pruned"), compact = _root.File("compact");
        var calibration = CalibrationSet.FromTokens([("ones", Enumerable.Range(0, 65).Select(i => 1 + (i * 7 % 500)).ToArray())], 2, 32, 0);
        var request = new PruneRequest(TestData.Stories260K, pruned, PrunerFactory.Create(method),
            new PruneOptions(target) { MeasureLayerError = false, Layers = selected }, calibration);
        using (var backend = new CpuBackend(threads: 1))
        {
            PruneJob.Run(request, backend);
        }
        long projected = Projected(pruned, config, target, selected);
        bool writesCopy;
        using (SafetensorsCheckpoint dense = SafetensorsCheckpoint.Open(TestData.Stories260K))
        {
            writesCopy = CompactProjection.WritesCopy(dense, config, target, selected);
        }
        long written;
        try
        {
            written = Compacted(pruned, compact);
        }
        catch (NothingToConvertException)
        {
            // Too few zeros for any linear to be smaller compact: no copy is written, and none may be counted.
            Assert.False(writesCopy, $"{method} {pattern}: the compactor wrote no copy, but one is counted");
            return;
        }
        Assert.True(writesCopy, $"{method} {pattern}: the compactor wrote a copy, but none is counted");
        Assert.True(projected >= written, $"{method} {pattern}: projected {projected} bytes, the compactor wrote {written}");
        // 1:2 zeroes one of every pair, so every group of four holds two zeros: the compactor stores it 2:4 too.
        if (target is SparsityPattern.NM { N: 2, M: 4 } or SparsityPattern.NM { N: 1, M: 2 })
        {
            Assert.Equal(written, projected);
        }
        else
        {
            Assert.True(projected <= written * 1.10, $"{method} {pattern}: projected {projected} bytes, more than 10 % over the {written} written");
        }
    }

    /// <summary>
    /// A pattern under the bitmask threshold stores a linear compact only where the dense model's own zeros take it
    /// there: here the first 16 of q_proj's 64 rows are zero, and with its layer left unpruned it is written compact.
    /// </summary>
    [Fact]
    public void A_copy_is_counted_where_the_dense_models_own_zeros_take_a_linear_past_the_threshold()
    {
        string model = TestData.CopyOfStories260K(_root.File("model"));
        const string qProj = "model.layers.0.self_attn.q_proj.weight";
        CheckpointBytes.EditF32Tensor(model, qProj, (bytes, at) => Array.Clear(bytes, (int)at, 16 * 64 * sizeof(float)));
        LlamaConfig config = LlamaConfig.Load(model);
        SparsityPattern target = SparsityPattern.Parse("0.2");
        IReadOnlySet<int> layers = new HashSet<int> { 1 };
        using (SafetensorsCheckpoint dense = SafetensorsCheckpoint.Open(model))
        {
            Assert.Equal([64, 64], dense[qProj].Shape);
            Assert.True(CompactProjection.WritesCopy(dense, config, target, layers));
        }
        string pruned = _root.File("pruned"), compact = _root.File("compact");
        PruneByMagnitude(model, pruned, target, layers);
        CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);
        Assert.True(Directory.Exists(compact));
    }

    /// <summary>
    /// A 2:4 model pruned again to 0.65 keeps its 2:4 zeros: ⌊0.65 · 4,096⌋ of q_proj's 4,096 weights (64.99 %) are
    /// zero, under <see cref="Copal.Tensors.Sparse.SparsityAdvisor.BitmaskOverTwoFour"/>, so the compactor stores it
    /// 2:4, larger than a bitmask of what it keeps. The projection took the pattern's 65 % for the zeros it measures,
    /// counted the bitmask alone, and fell short of what was written.
    /// </summary>
    [Fact]
    public void A_ratio_whose_rounded_count_falls_under_the_two_four_threshold_counts_two_four()
    {
        LlamaConfig config = LlamaConfig.Load(TestData.Stories260K);
        string twoFour = _root.File("two-four"), pruned = _root.File("pruned"), compact = _root.File("compact");
        SparsityPattern target = SparsityPattern.Parse("0.65");
        PruneByMagnitude(TestData.Stories260K, twoFour, SparsityPattern.Parse("2:4"));
        PruneByMagnitude(twoFour, pruned, target);
        long projected = Projected(pruned, config, target, null);
        long written = Compacted(pruned, compact);
        using SafetensorsCheckpoint stored = SafetensorsCheckpoint.Open(compact);
        Assert.Contains("format=nm", stored.Metadata["copal.sparse.model.layers.0.self_attn.q_proj.weight"], StringComparison.Ordinal);
        Assert.True(projected >= written, $"projected {projected} bytes, the compactor wrote {written}");
    }

    /// <summary>
    /// The compactor stores a linear from 25 % zeros as a bitmask whether or not that is smaller than dense: with 16
    /// columns in BF16 a row at 30 % is 34 bytes (2 of mask, 8 of offset, 12 values), dense 32. The projection counted
    /// the smaller of the two, short of what was written.
    /// </summary>
    [Fact]
    public void A_bitmask_larger_than_dense_is_counted_as_the_compactor_stores_it()
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { HiddenSize = 16, IntermediateSize = 16, NumHeads = 2, NumKvHeads = 1, HeadDim = 8, VocabSize = 64 };
        string model = _root.File("model"), pruned = _root.File("pruned"), compact = _root.File("compact");
        SyntheticModelWriter.Write(config, model, DType.BF16, seed: 3, tokenizerDirectory: null);
        SparsityPattern target = SparsityPattern.Parse("0.3");
        PruneByMagnitude(model, pruned, target);
        long projected = Projected(pruned, config, target, null);
        long written = Compacted(pruned, compact);
        Assert.True(projected >= written, $"projected {projected} bytes, the compactor wrote {written}");
    }

    /// <summary>Under the threshold the check reads every linear of the dense model: a cancelled run stops in it.</summary>
    [Fact]
    public void The_pass_over_the_linears_stops_when_cancelled()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        using SafetensorsCheckpoint dense = SafetensorsCheckpoint.Open(TestData.Stories260K);
        Assert.Throws<OperationCanceledException>(() =>
            CompactProjection.WritesCopy(dense, LlamaConfig.Load(TestData.Stories260K), SparsityPattern.Parse("0.2"), null, cancelled.Token));
    }

    /// <summary>
    /// A Phi-3 stores q, k, v as one qkv_proj and gate, up as one gate_up_proj; the compactor stores each part compact
    /// under its own name. The projection counted the fused tensors dense: 2:4 was projected at about the pruned
    /// model's size, where the compactor writes little more than half of it.
    /// </summary>
    [Fact]
    public void A_fused_projection_is_counted_as_its_parts_stored_compact()
    {
        LlamaConfig config = SyntheticPresets.Get("test-tiny") with { Architecture = "Phi3ForCausalLM", VocabSize = 256 };
        string model = _root.File("phi3"), pruned = _root.File("pruned"), compact = _root.File("compact");
        SyntheticModelWriter.Write(config, model, DType.F32, seed: 5, tokenizerDirectory: null);
        SparsityPattern target = SparsityPattern.Parse("2:4");
        PruneByMagnitude(model, pruned, target);
        using (SafetensorsCheckpoint dense = SafetensorsCheckpoint.Open(pruned))
        {
            Assert.True(dense.TryGet(LlamaTensorNames.FusedQkv(0), out _));
        }
        long projected = Projected(pruned, config, target, null);
        Assert.Equal(Compacted(pruned, compact), projected);
    }

    private static void PruneByMagnitude(string model, string output, SparsityPattern target, IReadOnlySet<int>? layers = null)
    {
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(new PruneRequest(model, output, PrunerFactory.Create("magnitude"),
            new PruneOptions(target) { MeasureLayerError = false, Layers = layers }, CalibrationSet.None()), backend);
    }

    /// <summary>The projection for the pruned model at <paramref name="pruned"/>, from its tensors' names, dtypes and shapes.</summary>
    private static long Projected(string pruned, LlamaConfig config, SparsityPattern target, IReadOnlySet<int>? layers)
    {
        using SafetensorsCheckpoint model = SafetensorsCheckpoint.Open(pruned);
        return CompactProjection.Bytes(model.Tensors.Select(t => new TensorSpec(t.Name, t.DType, t.Shape)).ToList(), config, target, layers);
    }

    /// <summary>Compacts <paramref name="pruned"/> into <paramref name="compact"/> and returns the tensor bytes written.</summary>
    private static long Compacted(string pruned, string compact)
    {
        CheckpointCompactor.Compact(pruned, compact, CompactFormat.Auto, overwrite: false);
        using SafetensorsCheckpoint stored = SafetensorsCheckpoint.Open(compact);
        return stored.Tensors.Sum(t => t.ByteLength);
    }
}
