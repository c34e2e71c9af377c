using Copal.Prune.Calibration;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>What PruneJob refuses before any work.</summary>
public sealed class PruneJobGuardTests : IDisposable
{
    private readonly string _temp = Directory.CreateTempSubdirectory("copal-prune-guard-").FullName;

    private static readonly SparsityPattern s_half = new SparsityPattern.Unstructured(0.5);

    [Theory]
    [InlineData("../escaped.txt")]
    [InlineData("sub/file.txt")]
    [InlineData("sub\\file.txt")]
    [InlineData("/escaped.txt")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("model.safetensors")]
    [InlineData("prune-report.json")]
    public void An_extra_file_that_is_not_a_plain_file_name_of_its_own_is_refused_before_any_work(string key)
    {
        string outDir = Path.Combine(_temp, "out");
        var written = new List<string>();
        var request = new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("magnitude"), new PruneOptions(s_half), CalibrationSet.None())
        {
            ExtraFiles = new Dictionary<string, Action<string>> { ["notes.txt"] = written.Add, [key] = written.Add },
        };
        using var backend = new CpuBackend(threads: 1);
        ArgumentException e = Assert.Throws<ArgumentException>(() => PruneJob.Run(request, backend));
        Assert.Equal("request", e.ParamName);
        Assert.StartsWith($"PruneRequest.ExtraFiles key '{key}': expected ", e.Message, StringComparison.Ordinal);
        Assert.Empty(written);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void A_plain_extra_file_lands_in_the_output_folder()
    {
        string outDir = Path.Combine(_temp, "out");
        var request = new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("magnitude"), new PruneOptions(s_half), CalibrationSet.None())
        {
            ExtraFiles = new Dictionary<string, Action<string>> { ["notes.txt"] = path => File.WriteAllText(path, "x"), [".hidden"] = path => File.WriteAllText(path, "y") },
        };
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(request, backend);
        Assert.Equal("x", File.ReadAllText(Path.Combine(outDir, "notes.txt")));
        Assert.Equal("y", File.ReadAllText(Path.Combine(outDir, ".hidden")));
    }

    public void Dispose() => Directory.Delete(_temp, recursive: true);
}
