using Copal.Prune.Continual.Protocol;
using Copal.Tensors;
using Copal.Testing;

namespace Copal.Prune.Tests.Continual;

/// <summary>
/// A dataset whose calibration text cannot give --nsamples windows of --seqlen is refused naming the file (and the half
/// of it a NAME=FILE dataset calibrates on), not only the dataset's name, with the token counts.
/// </summary>
public sealed class ContinualCalibrationLimitTests
{
    [Fact]
    public void A_calibration_text_too_short_for_the_request_is_named_by_its_file_and_half()
    {
        string file = Path.GetTempFileName();
        try
        {
            // 40 short lines: each half is far fewer than 64 windows of 32 tokens.
            File.WriteAllText(file, string.Concat(Enumerable.Repeat("Once upon a time there was a cat.\n", 40)));
            var datasets = ContinualDataset.ParseList($"cats={file}");
            var request = new ContinualRequest(TestData.Stories260K, datasets, ["magnitude"], new SparsityPattern.Unstructured(0.5), 64, 32, 32, [0UL],
                new Copal.Prune.Continual.CopalOptions()) { EvalLimitChunks = 1 };

            CalibrationLimitException prepare = Assert.Throws<CalibrationLimitException>(() => ContinualRunner.Prepare(request));
            Assert.Contains($"asks calibration text '{file}' (first half) of 'cats' for 64 windows, 2,048 tokens, but its ", prepare.Message, StringComparison.Ordinal);

            // Run checks data prepared elsewhere the same way: 100 tokens give 3 windows of 32.
            using var backend = new Copal.Tensors.Backends.Cpu.CpuBackend(threads: 1);
            CalibrationLimitException run = Assert.Throws<CalibrationLimitException>(() => ContinualRunner.Run(request, new ContinualData([new int[100]], [new int[64]]), backend));
            Assert.Contains($"asks calibration text '{file}' (first half) of 'cats' for 64 windows, 2,048 tokens, but its 100 tokens give at most 3 non-overlapping windows of 32",
                run.Message, StringComparison.Ordinal);

            // A text shorter than one window: its file, its token count and the least it needs.
            CalibrationLimitException shorter = Assert.Throws<CalibrationLimitException>(() => ContinualRunner.Run(request, new ContinualData([new int[20]], [new int[64]]), backend));
            Assert.StartsWith($"calibration text '{file}' (first half) of 'cats' has 20 tokens; one window of --seqlen 32 needs at least 33", shorter.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
