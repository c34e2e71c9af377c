using Xunit.Abstractions;
using Xunit.Sdk;

namespace Copal.Tensors.Tests.Backends;

// xunit 2 has no dynamic skip: these attributes decide at discovery time, so a test whose device is absent is
// reported as skipped (with the reason), never as passed.

/// <summary>Names the device a test class's backend needs; <see cref="BackendFactAttribute"/> tests read it.</summary>
[AttributeUsage(AttributeTargets.Class, Inherited = true)]
public sealed class RequiresDeviceAttribute(DeviceKind kind) : Attribute
{
    public DeviceKind Kind { get; } = kind;
}

/// <summary>
/// A fact declared once in an abstract per-op test class and run by each backend's subclass: skipped for the
/// subclasses whose <see cref="RequiresDeviceAttribute"/> device is absent.
/// </summary>
[XunitTestCaseDiscoverer("Copal.Tensors.Tests.Backends.BackendFactDiscoverer", "Copal.Tensors.Tests")]
public sealed class BackendFactAttribute : FactAttribute;

/// <summary>The theory counterpart of <see cref="BackendFactAttribute"/>.</summary>
[XunitTestCaseDiscoverer("Copal.Tensors.Tests.Backends.BackendTheoryDiscoverer", "Copal.Tensors.Tests")]
public sealed class BackendTheoryAttribute : TheoryAttribute;

/// <summary>Discovers <see cref="BackendFactAttribute"/> tests, or one skipped case when the class's device is absent.</summary>
public sealed class BackendFactDiscoverer(IMessageSink sink) : IXunitTestCaseDiscoverer
{
    private readonly FactDiscoverer _inner = new(sink);

    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        DeviceSkip.Cases(sink, discoveryOptions, testMethod) ?? _inner.Discover(discoveryOptions, testMethod, factAttribute);
}

/// <summary>Discovers <see cref="BackendTheoryAttribute"/> tests, or one skipped case when the class's device is absent.</summary>
public sealed class BackendTheoryDiscoverer(IMessageSink sink) : IXunitTestCaseDiscoverer
{
    private readonly TheoryDiscoverer _inner = new(sink);

    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        DeviceSkip.Cases(sink, discoveryOptions, testMethod) ?? _inner.Discover(discoveryOptions, testMethod, factAttribute);
}

internal static class DeviceSkip
{
    /// <summary>A single skipped case when the test class requires an absent device; null to discover normally.</summary>
    public static IXunitTestCase[]? Cases(IMessageSink sink, ITestFrameworkDiscoveryOptions options, ITestMethod testMethod)
    {
        Type testClass = testMethod.TestClass.Class.ToRuntimeType();
        var requires = (RequiresDeviceAttribute?)Attribute.GetCustomAttribute(testClass, typeof(RequiresDeviceAttribute), inherit: true);
        string? skip = requires is null ? null : DeviceProbe.SkipReason(requires.Kind);
        return skip is null
            ? null
            : [new XunitSkippedDataRowTestCase(sink, options.MethodDisplayOrDefault(), options.MethodDisplayOptionsOrDefault(), testMethod, skip)];
    }
}
