using System.Buffers.Binary;
using Copal.Model.Synthetic;
using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// SparseGPT moves a pruned weight's share onto the weights it keeps, so a kept weight can grow past what the
/// checkpoint's dtype holds: F16 ends at 65504. Written as Inf, the model would be refused by every loader after the
/// whole run; the run must fail at that linear instead, naming it, the value and the dtype, and leave no output.
/// </summary>
public sealed class StoredRangeTests : IDisposable
{
    private const string QProj = "model.layers.0.self_attn.q_proj.weight";
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-prune-range-").FullName;

    [Fact]
    public void An_update_past_the_F16_range_fails_the_run_naming_the_linear_and_the_value()
    {
        string model = Path.Combine(_temp, "model");
        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny"), model, DType.F16, seed: 3,
            tokenizerDirectory: TestData.Path("tokenizers", "llama2"));
        MakeTwinInputs(model);
        // q_proj's row 0 weighs both pairs of twins by 60000: 2:4 prunes one of each pair, and its 60000 moves onto the other.
        CheckpointBytes.EditTensor(model, QProj, "F16", (bytes, start) =>
        {
            for (int j = 0; j < 4; j++)
            {
                BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(checked((int)start + (2 * j))), (Half)60000f);
            }
        });
        string outDir = Path.Combine(_temp, "out");
        var calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(model), [TestData.Path("text", "tinystories", "calib.txt")], 2, 32, seed: 0);
        using var backend = new CpuBackend();

        var e = Assert.Throws<InvalidDataException>(() => PruneJob.Run(new PruneRequest(model, outDir, PrunerFactory.Create("sparsegpt"),
            new PruneOptions(SparsityPattern.Parse("2:4")), calibration), backend));

        Assert.Contains($"'{QProj}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("[0, 1]", e.Message, StringComparison.Ordinal);
        Assert.Contains("F16", e.Message, StringComparison.Ordinal);
        Assert.Contains("65504", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(Directory.Exists(outDir));
    }

    // Layer 0's inputs 0 and 1 identical in every token, and 2 and 3: the embedding's columns equal (the norm weights are all 1).
    private static void MakeTwinInputs(string model)
    {
        const int Hidden = 64, Vocab = 32000;
        CheckpointBytes.EditTensor(model, "model.embed_tokens.weight", "F16", (bytes, start) =>
        {
            for (int r = 0; r < Vocab; r++)
            {
                int row = checked((int)start + (r * Hidden * 2));
                bytes.AsSpan(row, 2).CopyTo(bytes.AsSpan(row + 2, 2));
                bytes.AsSpan(row + 4, 2).CopyTo(bytes.AsSpan(row + 6, 2));
            }
        });
    }

    public void Dispose() => Directory.Delete(_temp, recursive: true);
}
