using Copal.Model.Tokenization;
using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>What PruneJob refuses before any work: extra files outside the output, an output over a COPAL state's folder.</summary>
public sealed class PruneJobGuardTests : IDisposable
{
    private readonly TempDir _temp = new("copal-prune-guard-");

    private static readonly SparsityPattern s_half = new SparsityPattern.Unstructured(0.5);

    private static CalibrationSet Calibration(ulong seed = 0) =>
        CalibrationSet.FromFiles(CopalTokenizer.FromDirectory(TestData.Stories260K), [TestData.Path("text", "tinystories", "calib.txt")], 2, 32, seed);

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
        string outDir = _temp.File("out");
        var written = new List<string>();
        var request = new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("magnitude"), new PruneOptions(s_half), CalibrationSet.None())
        {
            ExtraFiles = new Dictionary<string, Action<string, CancellationToken>> { ["notes.txt"] = (path, _) => written.Add(path), [key] = (path, _) => written.Add(path) },
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
        string outDir = _temp.File("out");
        var request = new PruneRequest(TestData.Stories260K, outDir, PrunerFactory.Create("magnitude"), new PruneOptions(s_half), CalibrationSet.None())
        {
            ExtraFiles = new Dictionary<string, Action<string, CancellationToken>> { ["notes.txt"] = (path, _) => File.WriteAllText(path, "x"), [".hidden"] = (path, _) => File.WriteAllText(path, "y") },
        };
        using var backend = new CpuBackend(threads: 1);
        PruneJob.Run(request, backend);
        Assert.Equal("x", File.ReadAllText(Path.Combine(outDir, "notes.txt")));
        Assert.Equal("y", File.ReadAllText(Path.Combine(outDir, ".hidden")));
    }

    [Fact]
    public void An_output_over_the_folder_a_copal_state_was_loaded_from_is_refused_before_any_work_even_with_force()
    {
        using var backend = new CpuBackend(threads: 1);
        string step1 = _temp.File("step1");
        FirstCopalStep(TestData.Stories260K, step1, backend);
        byte[] saved = File.ReadAllBytes(Path.Combine(step1, CopalState.TensorsFileName));

        CopalState resumed = CopalRun.StartOrResume(TestData.Stories260K, step1, new CopalOptionChoices(), s_half);
        CalibrationSet second = Calibration(1);
        foreach ((string outDir, string relation) in new[] { (step1, "is"), (_temp.Path, "contains"), (Path.Combine(step1, "next"), "is inside") })
        {
            var request = new PruneRequest(TestData.Stories260K, outDir, new CopalPruner(resumed), new PruneOptions(s_half), second)
            {
                Force = true,
                ExtraFiles = CopalRun.StateFiles(resumed, second, s_half),
            };
            IOException e = Assert.Throws<IOException>(() => PruneJob.Run(request, backend));
            Assert.StartsWith($"PruneRequest.OutDirectory '{outDir}' {relation} the folder the COPAL state reads from '{step1}'", e.Message, StringComparison.Ordinal);
            Assert.Equal(saved, File.ReadAllBytes(Path.Combine(step1, CopalState.TensorsFileName)));
            Assert.False(Directory.Exists(Path.Combine(step1, "next")));
            Assert.Single(resumed.Datasets);
        }
    }

    /// <summary>
    /// A state loaded by hand (no <see cref="CopalRun.StartOrResume"/>) and given another model, here the pruned step it
    /// was saved with, would fold that model's statistics into the dense parent's: refused, naming both hashes.
    /// </summary>
    [Fact]
    public void A_copal_state_given_a_model_other_than_its_dense_parent_is_refused_before_any_work()
    {
        using var backend = new CpuBackend(threads: 1);
        string step1 = _temp.File("step1");
        FirstCopalStep(TestData.Stories260K, step1, backend);

        CopalState loaded = CopalState.Load(step1);
        CalibrationSet second = Calibration(1);
        string outDir = _temp.File("step2");
        var onThePruned = new PruneRequest(step1, outDir, new CopalPruner(loaded), new PruneOptions(s_half), second)
        {
            ExtraFiles = CopalRun.StateFiles(loaded, second, s_half),
        };
        CopalStateException e = Assert.Throws<CopalStateException>(() => PruneJob.Run(onThePruned, backend));
        Assert.Contains($"dense parent with hash {ParentHash.Compute(TestData.Stories260K)}", e.Message, StringComparison.Ordinal);
        Assert.Contains($"PruneRequest.ModelDirectory '{step1}' has hash {ParentHash.Compute(step1)}", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
        Assert.Single(loaded.Datasets);

        // The same object goes on with its dense parent.
        PruneJob.Run(onThePruned with { ModelDirectory = TestData.Stories260K }, backend);
        Assert.Equal(2, CopalState.Load(outDir).Datasets.Count);
    }

    /// <summary>
    /// The check is not fooled by a folder whose files change under the same path between two runs of one state: its
    /// memo holds each file's length and time, so the changed parent is hashed again and refused.
    /// </summary>
    [Fact]
    public void A_parent_folder_changed_between_two_runs_of_one_state_is_hashed_again_and_refused()
    {
        using var backend = new CpuBackend(threads: 1);
        string parent = TestData.CopyOfStories260K(_temp.File("parent"));
        CopalState state = FirstCopalStep(parent, _temp.File("step1"), backend);

        // Another model under the same path: the config says the same with one more space.
        string config = Path.Combine(parent, "config.json");
        File.WriteAllText(config, File.ReadAllText(config) + " ");
        CalibrationSet second = Calibration(1);
        string outDir = _temp.File("step2");
        CopalStateException e = Assert.Throws<CopalStateException>(() => PruneJob.Run(new PruneRequest(parent, outDir, new CopalPruner(state), new PruneOptions(s_half), second)
        {
            ExtraFiles = CopalRun.StateFiles(state, second, s_half),
        }, backend));
        Assert.Contains($"has hash {ParentHash.Compute(parent)}", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(outDir));
    }

    /// <summary>COPAL's first step on <paramref name="model"/> into <paramref name="outDir"/>, its state saved there; the state, ready for the next.</summary>
    private static CopalState FirstCopalStep(string model, string outDir, CpuBackend backend)
    {
        CalibrationSet first = Calibration(0);
        CopalState state = CopalRun.StartOrResume(model, null, new CopalOptionChoices(), s_half);
        PruneJob.Run(new PruneRequest(model, outDir, new CopalPruner(state), new PruneOptions(s_half), first)
        {
            ExtraFiles = CopalRun.StateFiles(state, first, s_half),
        }, backend);
        return state;
    }

    public void Dispose() => _temp.Dispose();
}
