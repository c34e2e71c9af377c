namespace Copal.Tensors.Backends;

/// <summary>
/// The device has no room for an allocation, or a model's weights alone exceed its memory. The message names the
/// device, what was being allocated, how much, and the device's memory.
/// </summary>
public sealed class DeviceOutOfMemoryException(string message, Exception? inner = null) : Exception(message, inner);
