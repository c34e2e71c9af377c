using System.Text.RegularExpressions;
using Copal.Testing;

namespace Copal.Tensors.Tests.Backends;

/// <summary>
/// tools/device-check.sh names the GPU tests it runs with xunit's -class and -method filters. A filter that matches
/// nothing runs nothing and exits 0, so a renamed test would drop out of the GPU check in silence: each name must
/// still be a test class or method of the tests' sources.
/// </summary>
public sealed partial class DeviceCheckScriptTests
{
    [GeneratedRegex(@"-(?<kind>class|method) (?<name>[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+){2,})")]
    private static partial Regex Filter();

    [Fact]
    public void Every_test_the_device_check_names_exists()
    {
        string script = File.ReadAllText(TestData.RepoPath("tools", "device-check.sh"));
        string[] sources = [.. Directory.EnumerateFiles(TestData.RepoPath("tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(File.ReadAllText)];
        MatchCollection filters = Filter().Matches(script);
        Assert.True(filters.Count >= 4, $"{filters.Count} filters found in device-check.sh");
        foreach (Match f in filters)
        {
            string[] parts = f.Groups["name"].Value.Split('.');
            bool isClass = f.Groups["kind"].Value == "class";
            string type = isClass ? parts[^1] : parts[^2];
            string ns = string.Join('.', parts[..(isClass ? ^1 : ^2)]);
            bool found = sources.Any(s => s.Contains($"namespace {ns};", StringComparison.Ordinal)
                && Regex.IsMatch(s, $@"\bclass {type}\b")
                && (isClass || Regex.IsMatch(s, $@"\b{parts[^1]}\(")));
            Assert.True(found, $"device-check.sh runs -{f.Groups["kind"].Value} {f.Groups["name"].Value}, which no test source declares");
        }
    }

    [GeneratedRegex(@"FullyQualifiedName~(?<type>[A-Za-z0-9_]+)(?:\.(?<method>[A-Za-z0-9_]+))?")]
    private static partial Regex SdkFilter();

    /// <summary>
    /// Where the SDK is, the script filters with dotnet test's FullyQualifiedName~: a filter that matches nothing also
    /// passes in silence, so each must still name a test class (and the start of a method name in it, if given).
    /// </summary>
    [Fact]
    public void Every_test_the_device_check_filters_by_name_with_the_sdk_exists()
    {
        string script = File.ReadAllText(TestData.RepoPath("tools", "device-check.sh"));
        string[] sources = [.. Directory.EnumerateFiles(TestData.RepoPath("tests"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(File.ReadAllText)];
        MatchCollection filters = SdkFilter().Matches(script);
        Assert.True(filters.Count >= 3, $"{filters.Count} FullyQualifiedName filters found in device-check.sh");
        foreach (Match f in filters)
        {
            string type = f.Groups["type"].Value, method = f.Groups["method"].Value;
            bool found = sources.Any(s => Regex.IsMatch(s, $@"\bclass {type}\b")
                && (method.Length == 0 || Regex.IsMatch(s, $@"\bvoid {method}\w*\(|\bTask {method}\w*\(")));
            Assert.True(found, $"device-check.sh filters {f.Value}, which no test source declares");
        }
    }
}
