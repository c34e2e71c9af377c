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
    private readonly TempDir _temp = new("copal-prune-range-");

    [Fact]
    public void An_update_past_the_F16_range_fails_the_run_naming_the_linear_and_the_value()
    {
        string model = _temp.File("model");
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
        string outDir = _temp.File("out");

        InvalidDataException e = RefusedTwoOfFourSparseGpt(model, outDir);

        Assert.Contains($"'{QProj}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("[0, 1]", e.Message, StringComparison.Ordinal);
        Assert.Contains("F16", e.Message, StringComparison.Ordinal);
        Assert.Contains("65504", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.False(Directory.Exists(outDir));
    }

    /// <summary>
    /// Where the update leaves a weight that float itself cannot hold (an F32 checkpoint's weights of 3e38, twice that
    /// after the update), no copy in another dtype helps: the run fails naming the weight, without sending the user to
    /// prune an F32 copy of what is already F32.
    /// </summary>
    [Fact]
    public void An_update_past_floats_range_fails_without_suggesting_another_dtype()
    {
        string model = _temp.File("model");
        SyntheticModelWriter.Write(SyntheticPresets.Get("test-tiny"), model, DType.F32, seed: 3,
            tokenizerDirectory: TestData.Path("tokenizers", "llama2"));
        MakeTwinInputs(model, DType.F32);
        CheckpointBytes.EditTensor(model, QProj, "F32", (bytes, start) =>
        {
            for (int j = 0; j < 4; j++)
            {
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(checked((int)start + (4 * j))), 3e38f);
            }
        });
        string outDir = _temp.File("out");

        InvalidDataException e = RefusedTwoOfFourSparseGpt(model, outDir);

        Assert.Contains($"'{QProj}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("Inf", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("copy of the model", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("dtype cannot store", e.Message, StringComparison.Ordinal);
        Assert.EndsWith("use a method that keeps the weights it does not prune (magnitude, wanda)", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    // 2:4 SparseGPT of the model into outDir, which must fail as the data's fault.
    private static InvalidDataException RefusedTwoOfFourSparseGpt(string model, string outDir)
    {
        var calibration = CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(model), [TestData.Path("text", "tinystories", "calib.txt")], 2, 32, seed: 0);
        using var backend = new CpuBackend();
        return Assert.Throws<InvalidDataException>(() => PruneJob.Run(new PruneRequest(model, outDir, PrunerFactory.Create("sparsegpt"),
            new PruneOptions(SparsityPattern.Parse("2:4")), calibration), backend));
    }

    // Layer 0's inputs 0 and 1 identical in every token, and 2 and 3: the embedding's columns equal (the norm weights are all 1).
    private static void MakeTwinInputs(string model, DType dtype = DType.F16)
    {
        const int Hidden = 64, Vocab = 32000;
        int size = dtype == DType.F32 ? 4 : 2;
        CheckpointBytes.EditTensor(model, "model.embed_tokens.weight", dtype == DType.F32 ? "F32" : "F16", (bytes, start) =>
        {
            for (int r = 0; r < Vocab; r++)
            {
                int row = checked((int)start + (r * Hidden * size));
                bytes.AsSpan(row, size).CopyTo(bytes.AsSpan(row + size, size));
                bytes.AsSpan(row + (2 * size), size).CopyTo(bytes.AsSpan(row + (3 * size), size));
            }
        });
    }

    public void Dispose() => _temp.Dispose();
}
