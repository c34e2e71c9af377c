using Copal.Testing;

namespace Copal.Cli.Tests;

/// <summary>
/// cli.md: numbers use `.` as the decimal point whatever the locale. copal is built with invariant globalization, but
/// DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=0 in the environment (as some container images set it, to use ICU) turns the
/// locale's culture back on: the output must still read the same as everywhere else.
/// </summary>
public sealed class LocaleTests
{
    private static Dictionary<string, string?> Locale(string name) => new()
    {
        ["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "0",
        ["LANG"] = name,
        ["LC_ALL"] = name,
    };

    [IcuTheory]
    [InlineData("de_DE.UTF-8")]
    [InlineData("tr_TR.UTF-8")]
    [InlineData("ar_SA.UTF-8")]
    public void UsageErrorsWriteInvariantNumbers(string locale)
    {
        var r = CopalProcess.RunWithEnvironment(Locale(locale), "prune", "-m", TestData.Stories260K, "-o", "unused-out", "--sparsity", "1.5");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--sparsity: expected a ratio between 0 and 0.95 (e.g. 0.5; use --pattern for N:M), got 1.5", r.Stderr, StringComparison.Ordinal);
    }

    [IcuTheory]
    [InlineData("de_DE.UTF-8")]
    [InlineData("ar_SA.UTF-8")]
    public void InspectWritesInvariantNumbers(string locale)
    {
        var invariant = CopalProcess.Run("inspect", "-m", TestData.Stories260K);
        var local = CopalProcess.RunWithEnvironment(Locale(locale), "inspect", "-m", TestData.Stories260K);
        Assert.Equal(0, local.ExitCode);
        Assert.Contains("260,032 parameters (260.0K)", local.Stdout, StringComparison.Ordinal);
        Assert.Equal(invariant.Stdout, local.Stdout);
    }

    [IcuTheory]
    [InlineData("tr_TR.UTF-8")]
    public void UpperCaseWordsMatchUnderTurkishCasing(string locale)
    {
        // Turkish lower-cases I to dotless ı: a culture's ToLower would turn LINES into lınes and refuse the layout.
        var r = CopalProcess.RunWithEnvironment(Locale(locale), "perplexity", "-m", TestData.Stories260K, "--data", TestData.Path("text", "tinystories", "eval.txt"),
            "--layout", "JOINED-LINES", "--seqlen", "64", "--limit-chunks", "1", "--device", "CPU");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("perplexity 2.0781 over 63 predicted tokens (1 window of 64)", r.Stdout, StringComparison.Ordinal);
    }
}

/// <summary>A theory that needs ICU's libraries (culture data for a non-invariant .NET); skipped, with that reason, without them.</summary>
public sealed class IcuTheoryAttribute : TheoryAttribute
{
    private static readonly string[] LibraryFolders = ["/usr/lib", "/usr/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/local/lib"];

    public IcuTheoryAttribute()
    {
        bool found = OperatingSystem.IsLinux() && LibraryFolders.Any(f => Directory.Exists(f) && Directory.EnumerateFiles(f, "libicuuc.so.*").Any());
        if (!found)
        {
            Skip = "needs ICU's libraries (libicuuc), which a .NET with its locale's culture loads";
        }
    }
}
