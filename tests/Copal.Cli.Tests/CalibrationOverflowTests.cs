using System.Buffers.Binary;
using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// Finite activations whose squares pass single precision's largest value (|x| above about 1.8e19): the statistics
/// summed in f32 overflow to Inf. The error said the activations were "not finite (a non-finite weight outside the
/// linears?)", which was false of every value in the model; it now names the tensor and the overflow.
/// </summary>
public sealed class CalibrationOverflowTests : IDisposable
{
    private readonly TempDir _temp = new("copal-overflow-");

    [Fact]
    public void Finite_activations_whose_squares_overflow_are_named_as_an_overflow()
    {
        string model = TestData.CopyOfStories260K(_temp.File("model"));
        // Layer 0's attention norm scaled by 1e20: its output, q/k/v's input, is about 1e20, finite in f32.
        CheckpointBytes.EditF32Tensor(model, "model.layers.0.input_layernorm.weight", (bytes, start) =>
        {
            for (int i = 0; i < 64; i++)
            {
                Span<byte> at = bytes.AsSpan(checked((int)start + (i * 4)));
                BinaryPrimitives.WriteSingleLittleEndian(at, BinaryPrimitives.ReadSingleLittleEndian(at) * 1e20f);
            }
        });
        CopalProcess.Result r = CopalProcess.Run("prune", "-m", model, "-o", _temp.File("out"), "--method", "wanda", "--sparsity", "0.5",
            "--calib", TestData.Path("text", "tinystories", "eval.txt"), "--nsamples", "2", "--seqlen", "16", "--device", "cpu");
        Assert.True(r.ExitCode == 1, $"exit code {r.ExitCode}; stderr: {r.Stderr}");
        Assert.Matches(@"copal: error: the calibration inputs of tensor 'model\.layers\.0\.self_attn\.[qkv]_proj\.weight' sum to Inf in column \d+ in single precision: "
            + @"their squares, summed in f32, passed its largest value \(3\.4e38\), as activations of magnitude 1\.8e19 or more do \(or infinite ones\); pruning needs activations whose squares fit in f32", r.Stderr);
        Assert.DoesNotContain("not finite", r.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_temp.File("out")));
    }

    public void Dispose() => _temp.Dispose();
}
