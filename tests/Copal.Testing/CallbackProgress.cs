namespace Copal.Testing;

/// <summary>
/// Hands each report to <paramref name="report"/> on the reporting thread, so a test sees every report, in order,
/// before the call returns (<see cref="Progress{T}"/> would post them to the thread pool).
/// </summary>
public sealed class CallbackProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
