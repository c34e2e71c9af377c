namespace Copal.Tensors.Backends;

/// <summary>
/// The device a spec names does not exist, or exists but cannot run Copal's kernels. The message says which devices
/// there are, or why this one is refused.
/// </summary>
public sealed class DeviceUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
