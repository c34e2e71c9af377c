namespace Copal.Tensors.Backends;

/// <summary>
/// The device a spec names does not exist or cannot be used here. The message says which devices exist, so a tool
/// can show it as it is.
/// </summary>
public sealed class DeviceUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
