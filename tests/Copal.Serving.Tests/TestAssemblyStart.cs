using System.Runtime.CompilerServices;
using Copal.Testing;

namespace Copal.Serving.Tests;

/// <summary>Runs once as the test assembly loads, before any test.</summary>
internal static class TestAssemblyStart
{
#pragma warning disable CA2255 // A module initializer is meant for applications; this test assembly's runner is one.
    [ModuleInitializer]
    internal static void ClearDeveloperSettings() => DeveloperSettings.Clear();
#pragma warning restore CA2255
}
