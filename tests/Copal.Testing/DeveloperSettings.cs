namespace Copal.Testing;

/// <summary>
/// Environment variables a developer may keep set that change what copal writes: COPAL_DEBUG=1 adds a stack trace
/// to the one-line errors the tests read, so with it in a shell most error tests failed. The test assemblies that run
/// copal (in process, or as children, which inherit the environment) clear them before their first test.
/// </summary>
public static class DeveloperSettings
{
    /// <summary>Removes the variables from this process's environment; a test that wants one sets it on its child.</summary>
    public static void Clear() => Environment.SetEnvironmentVariable("COPAL_DEBUG", null);
}
