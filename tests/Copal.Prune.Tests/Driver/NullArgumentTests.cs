using Copal.Prune.Calibration;
using Copal.Prune.Continual;
using Copal.Prune.Continual.Protocol;
using Copal.Prune.Driver;
using Copal.Tensors.Backends.Cpu;
using Copal.Testing;

namespace Copal.Prune.Tests.Driver;

/// <summary>
/// A null where the API needs a value is an <see cref="ArgumentNullException"/> naming it, thrown before any work,
/// not a NullReferenceException from somewhere inside the run. Records take null in their positional fields and
/// in <c>with</c> whatever their types say, so the runs check them.
/// </summary>
public sealed class NullArgumentTests : IDisposable
{
    private readonly TempDir _temp = new("copal-null-");
    private readonly CpuBackend _backend = new(threads: 1);

    public void Dispose()
    {
        _backend.Dispose();
        _temp.Dispose();
    }

    private PruneRequest Request() => new(TestData.Stories260K, _temp.File("out"), PrunerFactory.Create("magnitude"),
        new PruneOptions(new SparsityPattern.Unstructured(0.5)), CalibrationSet.None());

    private static void AssertNames(ArgumentNullException e, string parameter, string field)
    {
        Assert.Equal(parameter, e.ParamName);
        Assert.Contains(field + " is null", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_prune_request_with_a_null_field_names_the_field()
    {
        PruneRequest ok = Request();
        var cases = new (PruneRequest Request, string Field)[]
        {
            (new PruneRequest(ok.ModelDirectory, ok.OutDirectory, null!, ok.Options, ok.Calibration), "PruneRequest.Pruner"),
            (ok with { Options = null! }, "PruneRequest.Options"),
            (ok with { Calibration = null! }, "PruneRequest.Calibration"),
            (ok with { Options = ok.Options with { Pattern = null! } }, "PruneRequest.Options.Pattern"),
            (ok with { OutDirectory = null! }, "PruneRequest.OutDirectory"),
            (ok with { ModelDirectory = null! }, "PruneRequest.ModelDirectory"),
            (ok with { ExtraFiles = null! }, "PruneRequest.ExtraFiles"),
            (ok with { ExtraFiles = new Dictionary<string, Action<string, CancellationToken>> { ["x.json"] = null! } }, "PruneRequest.ExtraFiles['x.json']"),
        };
        foreach ((PruneRequest request, string field) in cases)
        {
            AssertNames(Assert.Throws<ArgumentNullException>(() => PruneJob.Run(request, _backend)), "request", field);
        }
        Assert.False(Directory.Exists(ok.OutDirectory), "a refused request wrote its output");
    }

    [Fact]
    public void PrunerFactory_refuses_a_null_method_naming_it()
    {
        var e = Assert.Throws<ArgumentNullException>(() => PrunerFactory.Create(null!));
        Assert.Equal("method", e.ParamName);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Calibrate_refuses_nulls_and_says_a_folder_is_not_a_text_file()
    {
        Assert.Equal("modelDirectory", Assert.Throws<ArgumentNullException>(() => PruneJob.Calibrate(null!, [_temp.Path], 1, 8, 0)).ParamName);
        Assert.Equal("files", Assert.Throws<ArgumentNullException>(() => PruneJob.Calibrate(TestData.Stories260K, null!, 1, 8, 0)).ParamName);
        var e = Assert.Throws<IOException>(() => PruneJob.Calibrate(TestData.Stories260K, [_temp.Path], 1, 8, 0));
        Assert.IsNotType<FileNotFoundException>(e);
        Assert.Contains($"'{_temp.Path}' is a folder; expected a text file", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_continual_request_with_a_null_field_names_the_field_at_every_entry_point()
    {
        var ok = new ContinualRequest(TestData.Stories260K, [], ["magnitude"], new SparsityPattern.Unstructured(0.5), 1, 8, 8, [0UL], new CopalOptions());
        var cases = new (ContinualRequest Request, string Field)[]
        {
            (ok with { Copal = null! }, "ContinualRequest.Copal"),
            (ok with { Pattern = null! }, "ContinualRequest.Pattern"),
            (ok with { Methods = null! }, "ContinualRequest.Methods"),
            (ok with { Methods = [null!] }, "ContinualRequest.Methods[0]"),
            (ok with { Datasets = null! }, "ContinualRequest.Datasets"),
            (ok with { Datasets = [null!] }, "ContinualRequest.Datasets[0]"),
            (ok with { Seeds = null! }, "ContinualRequest.Seeds"),
            (ok with { ModelDirectory = null! }, "ContinualRequest.ModelDirectory"),
        };
        var data = new ContinualData([], []);
        foreach ((ContinualRequest request, string field) in cases)
        {
            AssertNames(Assert.Throws<ArgumentNullException>(() => ContinualRunner.Run(request, data, _backend)), "request", field);
            AssertNames(Assert.Throws<ArgumentNullException>(() => ContinualRunner.Run(request, _backend)), "request", field);
            AssertNames(Assert.Throws<ArgumentNullException>(() => ContinualRunner.Prepare(request)), "request", field);
            AssertNames(Assert.Throws<ArgumentNullException>(() => ContinualRunner.Variants(request)), "request", field);
            AssertNames(Assert.Throws<ArgumentNullException>(() => ContinualRunner.EstimateMemory(request, Copal.Model.Config.LlamaConfig.Load(TestData.Stories260K))), "request", field);
        }
        var nullTokens = Assert.Throws<ArgumentNullException>(() => ContinualRunner.Run(ok, new ContinualData(null!, []), _backend));
        AssertNames(nullTokens, "data", "ContinualData.CalibrationTokens");
        var short_ = Assert.Throws<ArgumentException>(() => ContinualRunner.Run(ok with { Datasets = ContinualDataset.ParseList("a=x:y") }, data, _backend));
        Assert.Equal("data", short_.ParamName);
    }
}
