using Copal.Model.Config;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// A calibration is refused before any work when its text cannot give it or the machine cannot hold it, and its cost is
/// estimated from the shapes.
/// </summary>
public sealed class CalibrationLimitTests
{
    private static (string, int[]) Text(string name, int tokens) => (name, Enumerable.Range(0, tokens).Select(i => 3 + (i % 100)).ToArray());

    [Fact]
    public void Sample_i_comes_from_text_i_mod_the_number_of_texts_and_never_takes_its_last_token()
    {
        // Three texts whose ids do not overlap (text f holds 1000·f + 0..99): each window says which text it is from.
        (string, int[])[] texts = [.. Enumerable.Range(0, 3).Select(f => ($"t{f}.txt", Enumerable.Range(1000 * f, 100).ToArray()))];
        CalibrationSet set = CalibrationSet.FromTokens(texts, 7, 8, seed: 5);
        Assert.Equal(7, set.Samples.Count);
        for (int i = 0; i < 7; i++)
        {
            int[] window = set.Samples[i];
            int f = i % 3, start = window[0] - (1000 * f);
            // A contiguous window of text f, starting in [0, len − seqlen − 1] as the reference draws it.
            Assert.InRange(start, 0, 100 - 8 - 1);
            Assert.Equal(Enumerable.Range(window[0], 8), window);
        }
    }

    [Fact]
    public void More_windows_than_the_text_holds_are_refused_naming_the_options_and_numbers()
    {
        // 1000 tokens hold ⌊999 / 64⌋ = 15 non-overlapping windows of 64.
        Exception e = Assert.ThrowsAny<Exception>(() => CalibrationSet.FromTokens([Text("t.txt", 1000)], 16, 64, seed: 0));
        Assert.Contains("--nsamples 16 × --seqlen 64", e.Message, StringComparison.Ordinal);
        Assert.Contains("'t.txt'", e.Message, StringComparison.Ordinal);
        Assert.Contains("at most 15 non-overlapping windows of 64", e.Message, StringComparison.Ordinal);
        Assert.Contains("--nsamples ≤ 15 or --seqlen ≤ 62", e.Message, StringComparison.Ordinal);
        Assert.IsType<CalibrationLimitException>(e);

        CalibrationSet fits = CalibrationSet.FromTokens([Text("t.txt", 1000)], 15, 64, seed: 0);
        Assert.Equal((15, 15), (fits.Samples.Count, fits.MaxSamples));
    }

    [Fact]
    public void One_window_is_said_in_the_singular()
    {
        // 100 tokens hold ⌊99 / 64⌋ = 1 window of 64.
        CalibrationLimitException e = Assert.Throws<CalibrationLimitException>(() => CalibrationSet.FromTokens([Text("t.txt", 100)], 2, 64, seed: 0));
        Assert.Contains("asks calibration text 't.txt' for 2 windows, 128 tokens, but its 100 tokens give at most 1 non-overlapping window of 64: use --nsamples ≤ 1",
            e.Message, StringComparison.Ordinal);
        CalibrationLimitException one = Assert.Throws<CalibrationLimitException>(() => CalibrationSet.FromTokens([Text("a", 1000), Text("b", 100)], 4, 64, seed: 0));
        Assert.Contains("'b' for 2 windows (its share of 2 texts)", one.Message, StringComparison.Ordinal);
        Assert.Contains("at most 1 non-overlapping window of 64", one.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void With_several_texts_each_share_must_fit()
    {
        // Sample i comes from text i mod 2: 9 samples ask 5 of a (15 windows) and 4 of b (3 windows).
        var sources = new[] { Text("a", 1000), Text("b", 200) };
        Assert.Equal(7, CalibrationSet.MaxSamplesFrom([1000, 200], 64)); // b gives 3: samples 1, 3, 5 → at most 7 in all
        CalibrationLimitException e = Assert.Throws<CalibrationLimitException>(() => CalibrationSet.FromTokens(sources, 9, 64, seed: 0));
        Assert.Contains("'b' for 4 windows (its share of 2 texts)", e.Message, StringComparison.Ordinal);
        Assert.Contains("--nsamples ≤ 7", e.Message, StringComparison.Ordinal);
        Assert.Equal(7, CalibrationSet.FromTokens(sources, 7, 64, seed: 0).Samples.Count);
    }

    /// <summary>The --seqlen a refusal suggests gives the windows asked for; at 2 it is still offered, below 2 never.</summary>
    [Fact]
    public void The_seqlen_a_refusal_suggests_fits()
    {
        // 1024 tokens hold ⌊1023 / 64⌋ = 15 windows of 64; 16 windows fit at --seqlen ⌊1023 / 16⌋ = 63, not 1024 / 16 = 64.
        CalibrationLimitException e = Assert.Throws<CalibrationLimitException>(() => CalibrationSet.FromTokens([Text("t.txt", 1024)], 16, 64, seed: 0));
        Assert.Contains("--nsamples ≤ 15 or --seqlen ≤ 63,", e.Message, StringComparison.Ordinal);
        Assert.Equal(16, CalibrationSet.FromTokens([Text("t.txt", 1024)], 16, 63, seed: 0).Samples.Count);
        // 7 tokens hold 2 windows of 3; 3 windows fit at --seqlen 2 (⌊6 / 3⌋), the shortest there is.
        e = Assert.Throws<CalibrationLimitException>(() => CalibrationSet.FromTokens([Text("t.txt", 7)], 3, 3, seed: 0));
        Assert.Contains("--nsamples ≤ 2 or --seqlen ≤ 2,", e.Message, StringComparison.Ordinal);
        Assert.Equal(3, CalibrationSet.FromTokens([Text("t.txt", 7)], 3, 2, seed: 0).Samples.Count);
        // 5 tokens hold 1 window of 3, and no --seqlen of 2 or more gives 3 windows: none is suggested.
        e = Assert.Throws<CalibrationLimitException>(() => CalibrationSet.FromTokens([Text("t.txt", 5)], 3, 3, seed: 0));
        Assert.DoesNotContain("--seqlen ≤", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A text of exactly --seqlen tokens is shorter than one window (which never uses the text's last token).</summary>
    [Fact]
    public void A_text_of_exactly_seqlen_tokens_is_refused_as_shorter_than_one_window()
    {
        CalibrationLimitException e = Assert.Throws<CalibrationLimitException>(() => CalibrationSet.FromTokens([Text("t.txt", 64)], 1, 64, seed: 0));
        Assert.Contains("calibration text 't.txt' has 64 tokens; one window of --seqlen 64 needs at least 65", e.Message, StringComparison.Ordinal);
        Assert.Single(CalibrationSet.FromTokens([Text("t.txt", 65)], 1, 64, seed: 0).Samples);
    }

    /// <summary>A window is at least two tokens (<see cref="CalibrationSet.SeqLen"/>): one of 1 is refused as an argument.</summary>
    [Fact]
    public void A_seqlen_below_2_is_an_argument_error()
    {
        ArgumentOutOfRangeException e = Assert.Throws<ArgumentOutOfRangeException>(() => CalibrationSet.FromTokens([Text("t.txt", 100)], 4, 1, seed: 0));
        Assert.Equal("seqLen", e.ParamName);
    }

    [Fact]
    public void No_sources_are_an_argument_error_naming_the_parameter()
    {
        // Sample i comes from source i mod F: with F = 0 that was a division by zero.
        ArgumentException e = Assert.Throws<ArgumentException>(() => CalibrationSet.FromTokens([], 4, 64, seed: 0));
        Assert.Equal("sources", e.ParamName);
    }

    [Theory]
    [InlineData(64, 64, 0)]
    [InlineData(65, 64, 1)]
    [InlineData(128, 64, 1)]
    [InlineData(129, 64, 2)]
    public void Windows_in_a_text_never_use_its_last_token(long tokens, int seqLen, int windows) =>
        Assert.Equal(windows, CalibrationSet.WindowsIn(tokens, seqLen));

    private static LlamaConfig Config(int hidden = 64, int intermediate = 172) => new()
    {
        Architecture = "LlamaForCausalLM",
        HiddenSize = hidden,
        IntermediateSize = intermediate,
        NumLayers = 5,
        NumHeads = 8,
        NumKvHeads = 4,
        HeadDim = hidden / 8,
        VocabSize = 512,
        MaxPositionEmbeddings = 512,
        RmsNormEps = 1e-5,
        RopeTheta = 10000,
        RopeScaling = new RopeScalingConfig(RopeScalingKind.None),
        TieWordEmbeddings = true,
        AttentionBias = false,
        TorchDtype = "float32",
    };

    [Fact]
    public void The_estimate_counts_activations_statistics_and_pruning_from_the_shapes()
    {
        var options = new PruneOptions(new SparsityPattern.Unstructured(0.5)) { MeasureLayerError = false };
        CalibrationMemoryEstimate wanda = CalibrationMemory.Estimate(Config(), 128, 512, "wanda", needsHessian: false, options);
        Assert.Equal(128L * 512 * 64 * 4, wanda.Activations);
        // Column sums of the four input groups (64, 64, 64, 172 columns), 16 bytes each while collecting.
        Assert.Equal((64 + 64 + 64 + 172) * 16L, wanda.Statistics);
        Assert.Equal(0, wanda.State);
        Assert.Equal(wanda.Activations + wanda.Forward + Math.Max(wanda.Statistics, wanda.Pruning), wanda.Total);

        CalibrationMemoryEstimate sparseGpt = CalibrationMemory.Estimate(Config(), 128, 512, "sparsegpt", needsHessian: true, options);
        // The Hessians (f32 on the backend, f64 means, and a host piece of up to 2^20 floats: here all of it) of all
        // four groups at once.
        Assert.Equal((64 + 64 + 64 + 172) * 16L + (3 * 64L * 64 + 172L * 172) * 16, sparseGpt.Statistics);
        CalibrationMemoryEstimate large = CalibrationMemory.Estimate(Config(4096, 11008), 128, 512, "sparsegpt", needsHessian: true, options);
        Assert.Equal(((3 * 4096L) + 11008) * 16 + ((3 * 4096L * 4096) + (11008L * 11008)) * 12 + (4 * (1L << 20) * 4), large.Statistics);
        Assert.True(sparseGpt.Pruning > wanda.Pruning);
        // Doubling the samples doubles only the activations.
        CalibrationMemoryEstimate twice = CalibrationMemory.Estimate(Config(), 256, 512, "sparsegpt", needsHessian: true, options);
        Assert.Equal(sparseGpt.Total + sparseGpt.Activations, twice.Total);
    }

    [Fact]
    public void The_mixed_upstream_counts_both_sides_activations_statistics_and_held_state_hessians()
    {
        var options = new PruneOptions(new SparsityPattern.Unstructured(0.5)) { MeasureLayerError = false };
        LlamaConfig config = Config(4096, 11008);
        CalibrationMemoryEstimate pruned = CalibrationMemory.Estimate(config, 64, 512, "copal", needsHessian: true, options);
        CalibrationMemoryEstimate mixed = CalibrationMemory.Estimate(config, 64, 512, "copal", needsHessian: true, options, StatisticsUpstream.Mixed);
        Assert.Equal(2 * pruned.Activations, mixed.Activations);
        Assert.Equal(2 * pruned.Statistics, mixed.Statistics);
        Assert.Equal(pruned.Forward, mixed.Forward);
        // Matrices of 64 MiB and more leave for the spill when done with: one main matrix (down_proj's, the largest)
        // is held at a time, whichever the upstream; the column vectors of every layer stay.
        long columns = 5L * ((3 * 4096) + 4096 + (2 * 4096) + 11008) * 8;
        Assert.Equal(columns + (11008L * 11008 * 4), pruned.State);
        Assert.Equal(pruned.State, mixed.State);
        // Smaller ones wait for the next layer: one layer's, on both sides (3 of hidden², 1 of intermediate², f32).
        CalibrationMemoryEstimate tinyPruned = CalibrationMemory.Estimate(Config(), 64, 512, "copal", needsHessian: true, options);
        CalibrationMemoryEstimate tinyMixed = CalibrationMemory.Estimate(Config(), 64, 512, "copal", needsHessian: true, options, StatisticsUpstream.Mixed);
        Assert.Equal(tinyPruned.State + (((3L * 64 * 64) + (172L * 172)) * 4), tinyMixed.State);
        // The peak is down_proj's sweep in both: by then the earlier groups' statistics are dropped and its own dense
        // side is folded into the state, so mixed adds only the mixed Hessian the sweep runs on.
        Assert.Equal(pruned.Pruning + (11008L * 11008 * 4), mixed.Pruning);
        // Dense-past collects both sides and sweeps on its own Hessian like mixed, but keeps one state matrix per group.
        CalibrationMemoryEstimate densePast = CalibrationMemory.Estimate(config, 64, 512, "copal", needsHessian: true, options, StatisticsUpstream.DensePast);
        Assert.Equal(mixed.Activations, densePast.Activations);
        Assert.Equal(mixed.Statistics, densePast.Statistics);
        Assert.Equal(mixed.Pruning, densePast.Pruning);
        Assert.Equal(tinyPruned.State, CalibrationMemory.Estimate(Config(), 64, 512, "copal", needsHessian: true, options, StatisticsUpstream.DensePast).State);
    }

    [Fact]
    public void The_dense_target_shift_counts_the_dense_pass_one_cross_term_per_input_group_and_the_pooled_one()
    {
        var options = new PruneOptions(new SparsityPattern.Unstructured(0.5)) { MeasureLayerError = false };
        LlamaConfig config = Config(4096, 11008);
        CalibrationMemoryEstimate pruned = CalibrationMemory.Estimate(config, 64, 512, "copal", needsHessian: true, options);
        CalibrationMemoryEstimate shifted = CalibrationMemory.Estimate(config, 64, 512, "copal", needsHessian: true, options, upstreamShift: true);
        Assert.Equal(2 * pruned.Activations, shifted.Activations);
        // Per input group: the dense pass's column sums, the cross term (one sample's f32 sums and their f64 total)
        // and both passes' inputs on the host; the dense side's Gram is not collected.
        long[] groups = [4096, 4096, 4096, 11008];
        Assert.Equal(pruned.Statistics + groups.Sum(c => (c * 16) + (c * c * 12) + (2L * 512 * c * 4)), shifted.Statistics);
        Assert.True(shifted.Pruning > pruned.Pruning);
        // The state: the pooled cross term beside the Gram of the largest group (down_proj's, spilled after folding).
        Assert.Equal(pruned.State + (11008L * 11008 * 4), shifted.State);
    }

    /// <summary>
    /// --include-embeddings prunes lm_head by the method and an untied embedding by magnitude, each in its stored dtype,
    /// the head's pruned copy held for the final write while the embedding is pruned. A Llama 3 8B shape with F32
    /// embeddings beside BF16 linears: the estimate counted wanda's workspace on lm_head in the linears' 2 bytes, and
    /// not the embedding's magnitude scores at all: 2.9 GiB, where pruning the embedding holds 14.2 GiB.
    /// </summary>
    [Fact]
    public void Include_embeddings_counts_the_embeddings_pruning_in_their_stored_dtype()
    {
        LlamaConfig config = Config(4096, 14336) with { VocabSize = 128256, TieWordEmbeddings = false, TorchDtype = "bfloat16" };
        var options = new PruneOptions(new SparsityPattern.Unstructured(0.5)) { MeasureLayerError = false, IncludeEmbeddings = true };

        CalibrationMemoryEstimate e = CalibrationMemory.Estimate(config, 1, 2, PrunerFactory.Create("wanda"), options, linearBytes: 2, headBytes: 4);

        long matrix = 128256L * 4096;
        // lm_head's pruned F32 copy, then the embedding's f32 weight and F32 copy, its f64 scores, their selection's copy and the mask.
        Assert.True(e.Pruning >= matrix * (4 + 4 + 4 + 8 + 8 + 1), $"pruning {ByteSize.Format(e.Pruning)}, below the embedding's {ByteSize.Format(matrix * 29)}");
    }

    /// <summary>The embedding's and lm_head's element bytes are read from the checkpoint, apart from the linears'.</summary>
    [Fact]
    public void The_embeddings_bytes_are_their_stored_dtypes_not_the_linears()
    {
        using var folder = new TempDir("copal-head-bytes-");
        string path = folder.File("model.safetensors");
        using (var writer = Copal.Tensors.Safetensors.SafetensorsWriter.Create(path,
            [new("model.embed_tokens.weight", DType.F32, [8, 4]), new("model.layers.0.self_attn.q_proj.weight", DType.BF16, [4, 4])]))
        {
            writer.Write("model.embed_tokens.weight", new byte[128]);
            writer.Write("model.layers.0.self_attn.q_proj.weight", new byte[32]);
            writer.Commit();
        }
        using var checkpoint = Copal.Tensors.Safetensors.SafetensorsCheckpoint.Open(path);

        Assert.Equal((2, 4), (CalibrationMemory.LinearBytes(checkpoint, Config()), CalibrationMemory.HeadBytes(checkpoint, Config())));
    }

    /// <summary>
    /// Magnitude without the layer error runs no forward pass: no activations, forward buffers or statistics, only one
    /// linear's workspace (its |W| scores, the selection's copy, the mask, the f32 weight and its encoded copy) beside
    /// one layer's pruned copies; more linears run at once only as far as the memory holds their workspaces.
    /// </summary>
    [Fact]
    public void A_run_without_forward_passes_counts_only_pruning_and_runs_as_many_linears_as_fit()
    {
        LlamaConfig config = Config(4096, 11008) with { TorchDtype = "bfloat16" };
        ILinearPruner magnitude = PrunerFactory.Create("magnitude");
        var options = new PruneOptions(new SparsityPattern.Unstructured(0.5)) { MeasureLayerError = false };
        CalibrationMemoryEstimate e = CalibrationMemory.Estimate(config, 1, 2, magnitude, options);
        Assert.False(e.ForwardPasses);
        Assert.Equal((0L, 0L, 0L), (e.Activations, e.Forward, e.Statistics));
        long layer = ((2L * 4096 * 4096) + (2L * 2048 * 4096) + (3L * 4096 * 11008)) * 2;
        long mlp = 4096L * 11008;
        // The largest: gate_proj's, with its own input group's column statistics and down_proj's still to come.
        Assert.Equal(layer + ((4096 + 11008) * 8L) + (mlp * (8 + 8 + 1 + 4 + 2)), e.Pruning);
        Assert.Equal(e.Pruning, e.Total);

        Assert.Equal(1, CalibrationMemory.ConcurrentLinears(e, config, magnitude, e.Total, cores: 16));
        Assert.Equal(3, CalibrationMemory.ConcurrentLinears(e, config, magnitude, e.Total + (2 * mlp * 23), cores: 16));
        Assert.Equal(2, CalibrationMemory.ConcurrentLinears(e, config, magnitude, long.MaxValue, cores: 2));
        Assert.Equal(7, CalibrationMemory.ConcurrentLinears(e, config, magnitude, long.MaxValue, cores: 64));

        CalibrationLimitException refused = Assert.Throws<CalibrationLimitException>(() => CalibrationMemory.Require(e, e.Total - 1));
        Assert.Equal($"pruning needs an estimated {ByteSize.Format(e.Total)} (pruning one layer's linears, one at a time; no forward pass), " +
            $"more than the {ByteSize.Format(e.Total - 1)} of memory available: use a machine with more memory", refused.Message);

        // With the layer error it runs forward passes, and they are counted.
        Assert.True(CalibrationMemory.Estimate(config, 1, 2, magnitude, new PruneOptions(new SparsityPattern.Unstructured(0.5))).ForwardPasses);
    }

    [Fact]
    public void A_run_that_cannot_fit_is_refused_with_the_estimate_and_what_fits()
    {
        var options = new PruneOptions(new SparsityPattern.Unstructured(0.5));
        CalibrationMemoryEstimate e = CalibrationMemory.Estimate(Config(4096, 11008), 128, 2048, "sparsegpt", needsHessian: true, options);
        CalibrationMemory.Require(e, e.Total);
        long perSample = e.Activations / 128;
        CalibrationLimitException refused = Assert.Throws<CalibrationLimitException>(() => CalibrationMemory.Require(e, e.Total - (10 * perSample)));
        Assert.Contains("--nsamples 128 × --seqlen 2048 needs an estimated " + ByteSize.Format(e.Total), refused.Message, StringComparison.Ordinal);
        Assert.Contains("--nsamples ≤ 118", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// SparseGPT's Hessian of a huge MLP's down_proj input does not shrink with the windows: a refusal whose
    /// pruning alone passes the memory must not send the user to a shorter --seqlen that cannot fit either.
    /// </summary>
    [Fact]
    public void A_run_whose_pruning_alone_cannot_fit_names_no_calibration_option_to_lower()
    {
        var options = new PruneOptions(new SparsityPattern.Unstructured(0.5));
        CalibrationMemoryEstimate e = CalibrationMemory.Estimate(Config(64, 262144), 4, 64, "sparsegpt", needsHessian: true, options);
        long available = e.Pruning - 1;
        CalibrationLimitException refused = Assert.Throws<CalibrationLimitException>(() => CalibrationMemory.Require(e, available));
        Assert.DoesNotContain("shorter --seqlen", refused.Message, StringComparison.Ordinal);
        Assert.EndsWith($"the pruning of one layer alone needs an estimated {ByteSize.Format(e.Pruning)}, whatever --nsamples and --seqlen: " +
            "use a machine with more memory", refused.Message, StringComparison.Ordinal);

        // Where a shorter window would fit, the hint stays.
        CalibrationMemoryEstimate windows = CalibrationMemory.Estimate(Config(64, 172), 4, 4096, "sparsegpt", needsHessian: true, options);
        CalibrationLimitException shorter = Assert.Throws<CalibrationLimitException>(
            () => CalibrationMemory.Require(windows, windows.Total - windows.Activations - 1));
        Assert.EndsWith("use a shorter --seqlen or a machine with more memory", shorter.Message, StringComparison.Ordinal);
    }
}
