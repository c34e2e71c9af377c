using Copal.Prune.Continual.Protocol;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>The protocol's mask_change: the share of prunable weights zero in exactly one of two models, counted by hand here.</summary>
public sealed class MaskDriftTests : IDisposable
{
    private const string Q0 = "model.layers.0.self_attn.q_proj.weight";
    private const string Down4 = "model.layers.4.mlp.down_proj.weight";

    // stories260K's linears: 5 layers × (q, o 64×64; k, v 32×64; gate, up 172×64; down 64×172).
    private const long PrunableWeights = 5 * ((2 * 64 * 64) + (2 * 32 * 64) + (3 * 172 * 64));

    private readonly TempDir _root = new("copal-drift-");

    public void Dispose() => _root.Dispose();

    [Fact]
    public void The_fraction_counts_weights_zero_in_one_model_only_in_either_direction_over_the_linears()
    {
        string before = TestData.CopyOfStories260K(_root.File("before"));
        string after = TestData.CopyOfStories260K(_root.File("after"));
        // stories260K has no zero weight: every zero below is one written here.
        // q_proj of layer 0: 0..9 zero before, 5..19 zero after (5..9 in both, 5..7 as −0 before: zero is zero).
        ZeroF32(before, Q0, 0, 5, 0f);
        ZeroF32(before, Q0, 5, 3, -0f);
        ZeroF32(before, Q0, 8, 2, 0f);
        ZeroF32(after, Q0, 5, 15, 0f);
        // Three more after only, in the last layer's down_proj; the embedding is no linear and does not count.
        ZeroF32(after, Down4, 100, 3, 0f);
        ZeroF32(after, "model.embed_tokens.weight", 0, 50, 0f);

        // Before only: 0..4 (5); after only: 10..19 (10) and the three of down_proj.
        Assert.Equal(18.0 / PrunableWeights, MaskDrift.Fraction(before, after));
        Assert.Equal(18.0 / PrunableWeights, MaskDrift.Fraction(after, before));
        Assert.Equal(0.0, MaskDrift.Fraction(before, before));
    }

    /// <summary>
    /// Only the zero pattern counts: a weight that keeps a value other than zero but changes it (SparseGPT's and OBS's
    /// updates move every weight they keep) is no mask change.
    /// </summary>
    [Fact]
    public void A_kept_weight_whose_value_changed_is_no_mask_change()
    {
        string before = TestData.CopyOfStories260K(_root.File("before"));
        string after = TestData.CopyOfStories260K(_root.File("after"));
        ZeroF32(after, Q0, 0, 4, 0f);
        CheckpointBytes.EditF32Tensor(after, Down4, (bytes, offset) =>
        {
            for (int i = 0; i < 64; i++)
            {
                Span<byte> at = bytes.AsSpan((int)offset + (4 * i), 4);
                float w = BitConverter.ToSingle(at);
                Assert.NotEqual(0f, w);
                BitConverter.TryWriteBytes(at, 2 * w);
            }
        });

        Assert.Equal(4.0 / PrunableWeights, MaskDrift.Fraction(before, after));
    }

    private static void ZeroF32(string model, string tensor, int first, int count, float zero) =>
        CheckpointBytes.EditF32Tensor(model, tensor, (bytes, offset) =>
        {
            for (int i = first; i < first + count; i++)
            {
                BitConverter.TryWriteBytes(bytes.AsSpan((int)offset + (4 * i), 4), zero);
            }
        });
}
