namespace Copal.Testing;

/// <summary>
/// <c>COPAL_REQUIRE_DEVICE</c> (a comma-separated list of kinds, e.g. "cuda") turns a device test's skip into a
/// failure. Elsewhere an absent device skips its tests; on the machine lent for the GPU check, an absent device
/// (a driver ILGPU cannot load, say) must not look like a clean run of skipped tests.
/// </summary>
public static class RequiredDevices
{
    public const string Variable = "COPAL_REQUIRE_DEVICE";

    public static bool Includes(string kind) =>
        (Environment.GetEnvironmentVariable(Variable) ?? "")
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Contains(kind, StringComparer.OrdinalIgnoreCase);
}
