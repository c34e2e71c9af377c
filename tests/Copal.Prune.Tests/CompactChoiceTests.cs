using Copal.Model.Config;
using Copal.Model.Synthetic;
using Copal.Model.Weights;
using Copal.Tensors;
using Copal.Tensors.Safetensors;
using Copal.Tensors.Sparse;
using Copal.Testing;

namespace Copal.Prune.Tests;

/// <summary>
/// Which linears compact stores compact, at the edges of its rules: a dense model (nothing, in every format), a
/// linear of exactly 25 % zeros (the bitmask's threshold), and a checkpoint that is compact already.
/// </summary>
public sealed class CompactChoiceTests : IDisposable
{
    // down_proj of layer 0: [hidden 64, intermediate 160].
    private static readonly string Linear = LlamaTensorNames.Linear(0, LinearId.DownProj);

    private readonly TempDir _root = new("copal-compact-choice-");

    public void Dispose() => _root.Dispose();

    private string DenseModel(string name)
    {
        string model = _root.File(name);
        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny") with { VocabSize = 256 }, model, DType.F32, seed: 3, tokenizerDirectory: null);
        return model;
    }

    [Theory]
    [InlineData(CompactFormat.Auto)]
    [InlineData(CompactFormat.NM)]
    [InlineData(CompactFormat.Bitmask)]
    public void A_dense_model_is_stored_compact_in_no_format(CompactFormat format)
    {
        string model = DenseModel("dense"), output = _root.File("out");
        Assert.Throws<NothingToConvertException>(() => CheckpointCompactor.Compact(model, output, format, overwrite: false));
        Assert.False(Directory.Exists(output));
    }

    /// <summary>
    /// A quarter of each row zero (so no group of four is 2:4 where the row is not zero): exactly the bitmask's
    /// threshold, which auto stores as a bitmask and nm refuses as pruned but not 2:4. A −0 among the zeros comes back
    /// +0 and is counted; densify leaves no compact entry behind; and the compact output is not compacted again.
    /// </summary>
    [Fact]
    public void A_linear_of_exactly_a_quarter_zeros_is_a_bitmask_for_auto_and_refused_by_nm()
    {
        string model = DenseModel("quarter");
        CheckpointBytes.EditF32Tensor(model, Linear, (bytes, at) =>
        {
            for (int r = 0; r < 64; r++)
            {
                for (int c = 0; c < 40; c++)
                {
                    BitConverter.TryWriteBytes(bytes.AsSpan((int)(at + (4L * ((r * 160) + c))), 4), r == 0 && c == 0 ? -0f : 0f);
                }
            }
        });

        string compact = _root.File("compact");
        Assert.Equal(1, CheckpointCompactor.Compact(model, compact, CompactFormat.Auto, overwrite: false).NegativeZeros);
        using (SafetensorsFile written = SafetensorsFile.Open(Path.Combine(compact, SafetensorsCheckpoint.SingleFileName)))
        {
            Assert.StartsWith("format=bitmask;", written.Metadata[SparseTensorCodec.MetadataPrefix + Linear], StringComparison.Ordinal);
            Assert.Single(SparseTensorCodec.SparseNames(written.Metadata));
        }

        CompactFormatException e = Assert.Throws<CompactFormatException>(() => CheckpointCompactor.Compact(model, _root.File("nm"), CompactFormat.NM, overwrite: false));
        Assert.Equal("--format", e.Option);
        Assert.Contains($"'{Linear}' is 25.0 % zeros but not 2:4", e.Message, StringComparison.Ordinal);

        var again = Assert.Throws<ModelLoadException>(() => CheckpointCompactor.Compact(compact, _root.File("again"), CompactFormat.Auto, overwrite: false));
        Assert.EndsWith("the checkpoint is already compact; densify it first", again.Message, StringComparison.Ordinal);

        string dense = _root.File("dense");
        CheckpointCompactor.Densify(compact, dense, overwrite: false);
        using SafetensorsFile back = SafetensorsFile.Open(Path.Combine(dense, SafetensorsCheckpoint.SingleFileName));
        Assert.Empty(SparseTensorCodec.SparseNames(back.Metadata));
    }

    /// <summary>
    /// A 2:4 linear of exactly 65 % zeros (SparsityAdvisor.BitmaskOverTwoFour) is where auto prefers the bitmask, as
    /// the advisor does: from that share on, not past it.
    /// </summary>
    [Fact]
    public void A_two_four_linear_at_the_bitmask_threshold_is_stored_as_a_bitmask()
    {
        string model = DenseModel("at-threshold");
        CheckpointBytes.EditF32Tensor(model, Linear, (bytes, at) =>
        {
            // Per row of 40 groups: 16 keep columns 0 and 1, 24 keep column 0; 104 of 160 zeros.
            for (int r = 0; r < 64; r++)
            {
                for (int c = 0; c < 160; c++)
                {
                    int g = c / 4, within = c % 4;
                    if (within > 1 || (within == 1 && g >= 16))
                    {
                        BitConverter.TryWriteBytes(bytes.AsSpan((int)(at + (4L * ((r * 160) + c))), 4), 0f);
                    }
                }
            }
        });
        string compact = _root.File("compact");
        CheckpointCompactor.Compact(model, compact, CompactFormat.Auto, overwrite: false);
        using SafetensorsFile written = SafetensorsFile.Open(Path.Combine(compact, SafetensorsCheckpoint.SingleFileName));
        Assert.StartsWith("format=bitmask;", written.Metadata[SparseTensorCodec.MetadataPrefix + Linear], StringComparison.Ordinal);
    }
}
